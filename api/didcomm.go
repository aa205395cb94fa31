package api

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/broker"
)

// didcomm hands a wallet's message (POST /didcomm) to the DIDComm agent. The agent answers a
// message it cannot open 400 and one it cannot process 422. While the store is unreachable
// such a refusal is the outage's doing, not the wallet's — the agent could not read its keys or
// the connection — so the wallet is told 503 with Retry-After, something to send again later,
// as every other route says during an outage. Readiness is asked only on those refusals.
func (s *server) didcomm(c echo.Context) error {
	w := &heldResponse{header: http.Header{}}
	s.cfg.DIDComm.ServeHTTP(w, c.Request())
	refused := w.status == http.StatusBadRequest || w.status == http.StatusUnprocessableEntity
	if refused && s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			return fmt.Errorf("DIDComm message refused (%d) while a backing service is down: %w: %w", w.status, broker.ErrUnavailable, err)
		}
	}
	maps.Copy(c.Response().Header(), w.header)
	w.WriteHeader(http.StatusOK) // an agent that wrote nothing accepted the message
	c.Response().WriteHeader(w.status)
	_, err := c.Response().Write(w.body.Bytes())
	return err
}

// heldResponse keeps the agent's answer (a status and a line of text) until didcomm decides
// whether to send it.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}
