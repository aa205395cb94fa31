package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/identity/didcomm"
)

// didcomm hands a wallet's message (POST /didcomm) to the DIDComm agent, under the request's
// context. The agent refuses a message it cannot open (ErrUnreadable) or process
// (ErrNotProcessed). While the store is unreachable such a refusal is the outage's doing, not
// the wallet's — the agent could not read its keys or the connection — so the wallet is told
// 503 with Retry-After, something to send again later, as every other route says during an
// outage. Readiness is asked only on those refusals.
func (s *server) didcomm(c echo.Context) error {
	r := c.Request()
	err := s.cfg.DIDComm.Receive(r.Context(), r.Header.Get(echo.HeaderContentType), r.Body)
	if err == nil {
		return c.NoContent(http.StatusAccepted)
	}
	refused := errors.Is(err, didcomm.ErrUnreadable) || errors.Is(err, didcomm.ErrNotProcessed)
	if refused && s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if rerr := s.cfg.Ready(ctx); rerr != nil {
			return fmt.Errorf("DIDComm message refused (%w) while a backing service is down: %w: %w", err, broker.ErrUnavailable, rerr)
		}
	}
	return err
}

// didcommProblem is the problem a refusal of the DIDComm agent's is: its status (RFC 0025's
// transport), a stable code, and the agent's sentence.
func didcommProblem(err error) (Problem, bool) {
	for _, c := range didcommCodes {
		if errors.Is(err, c.err) {
			return newProblem(didcomm.StatusOf(c.err), c.code, c.err.Error()), true
		}
	}
	return Problem{}, false
}

// didcommCodes are the problem codes of the agent's refusals.
var didcommCodes = []struct {
	err  error
	code string
}{
	{didcomm.ErrUnsupportedMediaType, "unsupported_media_type"},
	{didcomm.ErrTooLarge, "payload_too_large"},
	{didcomm.ErrUnreadable, "invalid_message"},
	{didcomm.ErrInFlight, "message_in_flight"},
	{didcomm.ErrNotProcessed, "message_not_processed"},
	{didcomm.ErrNotRunning, "unavailable"},
}
