package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/flex"
)

// Webhooks checks Twilio's webhook requests (implemented by *flex.WebhookVerifier): Verify
// accepts a delivery once (its errors match flex.ErrWebhookRejected, ErrWebhookDuplicate or
// ErrWebhookUnavailable); Release forgets an accepted delivery whose processing failed, so that
// Twilio's retry of it is processed.
type Webhooks interface {
	Verify(r *http.Request, now time.Time) ([]byte, error)
	Release(r *http.Request) error
}

// chatToken: POST /v1/sessions/{id}/chat-token — a fresh Twilio access token for a bound
// session, minted only while the verified identity still stands.
func (s *server) chatToken(c echo.Context) error {
	id := c.Param("id")
	if err := s.authorizeSession(c, id, false); err != nil {
		return err
	}
	ctx := c.Request().Context()
	sess, err := s.broker.Session(ctx, id)
	if err != nil {
		return err
	}
	token, exp, err := s.broker.ChatToken(ctx, sess) // no token without sess.Chat
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, chatResponse{Token: token, TokenExpiresAt: exp, Identity: sess.Chat.Identity,
		ConversationSID: sess.Chat.ConversationSID, ChannelSID: sess.Chat.ChannelSID})
}

// twilioWebhook receives Twilio's chat events (Conversations and, for Flex Flow, Programmable
// Chat): signature, URL and replay are checked, then a closed chat closes its sessions.
func (s *server) twilioWebhook(c echo.Context) error {
	body, done, err := s.verifyTwilio(c)
	if done || err != nil {
		return err
	}
	ev, err := flex.ParseWebhook(c.Request().Header.Get(echo.HeaderContentType), body)
	if err != nil {
		return problem(http.StatusBadRequest, "invalid_webhook", "the webhook's payload cannot be read")
	}
	if ev.Closed {
		if err := s.broker.ChatClosed(c.Request().Context(), ev.ChatSID()); err != nil {
			return s.releaseTwilio(c, err)
		}
	}
	return c.NoContent(http.StatusNoContent)
}

// verifyTwilio checks a Twilio webhook and returns its body. done: the request is answered —
// 200 for a delivery already accepted (not processed again), 403 for one that is not
// Twilio's, 503 when it cannot be told whether it is new (Twilio retries).
func (s *server) verifyTwilio(c echo.Context) (body []byte, done bool, err error) {
	if s.cfg.Webhooks == nil {
		return nil, true, problem(http.StatusNotFound, "not_found", "Twilio webhooks are not configured (they need the account's Auth Token)")
	}
	body, err = s.cfg.Webhooks.Verify(c.Request(), time.Now())
	path := c.Request().URL.Path
	switch {
	case err == nil:
		return body, false, nil
	case errors.Is(err, flex.ErrWebhookDuplicate):
		s.log.Info("Twilio webhook already accepted; acknowledged, not processed again", "path", path)
		return nil, true, c.NoContent(http.StatusOK)
	case errors.Is(err, flex.ErrWebhookUnavailable):
		s.log.Warn("Twilio webhook not checked for replay", "path", path, "err", err)
		return nil, true, problem(http.StatusServiceUnavailable, "unavailable", "the webhook cannot be processed now; deliver it again later")
	}
	var we *flex.WebhookError
	reason := "bad_signature"
	if errors.As(err, &we) {
		reason = we.Reason
	}
	s.log.Warn("Twilio webhook refused", "reason", reason, "path", path)
	return nil, true, problem(http.StatusForbidden, "webhook_rejected", "the request is not a valid Twilio webhook (%s)", reason)
}

// releaseTwilio forgets an accepted webhook whose processing failed with cause, so that
// Twilio's retry is processed rather than acknowledged as a duplicate, and returns cause.
func (s *server) releaseTwilio(c echo.Context, cause error) error {
	if err := s.cfg.Webhooks.Release(c.Request()); err != nil {
		s.log.Error("Twilio webhook failed and could not be released: Twilio's retry will be taken as a duplicate",
			"path", c.Request().URL.Path, "err", err)
	}
	return cause
}
