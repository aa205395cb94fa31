package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/flex"
)

// Webhooks checks Twilio's webhook requests (implemented by *flex.WebhookVerifier).
type Webhooks interface {
	Verify(r *http.Request, now time.Time) ([]byte, error)
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
	if s.cfg.Webhooks == nil {
		return problem(http.StatusNotFound, "not_found", "Twilio webhooks are not configured (they need the account's Auth Token)")
	}
	body, err := s.cfg.Webhooks.Verify(c.Request(), time.Now())
	if err != nil {
		var we *flex.WebhookError
		reason := "bad_signature"
		if errors.As(err, &we) {
			reason = we.Reason
		}
		s.log.Warn("Twilio webhook refused", "reason", reason, "path", c.Request().URL.Path)
		return problem(http.StatusForbidden, "webhook_rejected", "the request is not a valid Twilio webhook (%s)", reason)
	}
	ev, err := flex.ParseWebhook(c.Request().Header.Get(echo.HeaderContentType), body)
	if err != nil {
		return problem(http.StatusBadRequest, "invalid_webhook", "the webhook's payload cannot be read")
	}
	if ev.Closed {
		if err := s.broker.ChatClosed(c.Request().Context(), ev.ChatSID()); err != nil {
			return err
		}
	}
	return c.NoContent(http.StatusNoContent)
}
