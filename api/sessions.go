package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/broker"
)

type createSessionRequest struct {
	Policy string `json:"policy"`
}

type sessionCreated struct {
	ID     string        `json:"id"`
	Status broker.Status `json:"status"`
	Policy string        `json:"policy"`
	// ConfirmationCode is what the page shows for the customer to compare with their wallet.
	ConfirmationCode string          `json:"confirmation_code,omitempty"`
	InvitationURL    string          `json:"invitation_url"`
	DeepLink         string          `json:"deep_link"`
	Invitation       json.RawMessage `json:"invitation"`
	QRPNGURL         string          `json:"qr_png_url"`
	QRSVGURL         string          `json:"qr_svg_url"`
	EventsURL        string          `json:"events_url"`
	ExpiresAt        time.Time       `json:"expires_at"`
	SessionToken     string          `json:"session_token"`
}

type sessionResponse struct {
	ID        string        `json:"id"`
	Status    broker.Status `json:"status"`
	Reason    string        `json:"reason,omitempty"`
	ChatError string        `json:"chat_error,omitempty"`
	Policy    string        `json:"policy"`
	// ConfirmationCode: see sessionCreated.
	ConfirmationCode string        `json:"confirmation_code,omitempty"`
	IdentityID       string        `json:"identity_id,omitempty"`
	Chat             *chatResponse `json:"chat,omitempty"`
	CreatedAt        time.Time     `json:"created_at"`
	UpdatedAt        time.Time     `json:"updated_at"`
	ExpiresAt        time.Time     `json:"expires_at"`
}

type chatResponse struct {
	Token           string    `json:"token"`
	TokenExpiresAt  time.Time `json:"token_expires_at"`
	Identity        string    `json:"identity"`
	ConversationSID string    `json:"conversation_sid"`
	ChannelSID      string    `json:"channel_sid,omitempty"`
}

func (s *server) createSession(c echo.Context) error {
	var req createSessionRequest
	if err := decodeOptionalJSON(c, &req); err != nil {
		return err
	}
	sess, err := s.broker.CreateSession(c.Request().Context(), req.Policy)
	if err != nil {
		return err
	}
	token, err := s.cfg.Tokens.Mint(sess.ID, sess.ExpiresAt)
	if err != nil {
		return fmt.Errorf("mint session token: %w", err)
	}
	base := s.cfg.PublicURL + "/v1/sessions/" + sess.ID
	c.Response().Header().Set(echo.HeaderLocation, base)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, sessionCreated{
		ID:               sess.ID,
		Status:           sess.Status,
		Policy:           sess.Policy,
		ConfirmationCode: sess.ConfirmationCode,
		InvitationURL:    s.cfg.PublicURL + "/i/" + sess.ID,
		DeepLink:         deepLink(sess.Invitation),
		Invitation:       sess.Invitation,
		QRPNGURL:         base + "/qr.png",
		QRSVGURL:         base + "/qr.svg",
		EventsURL:        base + "/events",
		ExpiresAt:        sess.ExpiresAt,
		SessionToken:     token,
	})
}

func (s *server) getSession(c echo.Context) error {
	id := c.Param("id")
	crm := false
	if err := s.authorizeSession(c, id, false); err != nil {
		// The CRM reads sessions too, with its own token (sessions:write), but never gets the
		// customer's chat token: that is the customer's alone.
		p, perr := s.principal(c)
		if perr != nil {
			return err
		}
		c.Response().Header().Del("WWW-Authenticate") // set by authorizeSession; the CRM's token is good
		if !p.Has(ScopeSessionsWrite) {
			return problem(http.StatusForbidden, "insufficient_scope", "reading a session needs its session token or the %s scope", ScopeSessionsWrite)
		}
		crm = true
	}
	v, err := s.broker.DescribeSession(c.Request().Context(), id)
	if err != nil {
		return err
	}
	out := sessionResponse{
		ID: v.ID, Status: v.Status, Reason: v.Reason, ChatError: v.ChatError, Policy: v.Policy,
		ConfirmationCode: v.ConfirmationCode, IdentityID: v.IdentityID,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, ExpiresAt: v.ExpiresAt,
	}
	if v.ChatToken != "" && v.Chat != nil && !crm {
		out.Chat = &chatResponse{Token: v.ChatToken, TokenExpiresAt: v.ChatTokenExpiresAt, Identity: v.Chat.Identity,
			ConversationSID: v.Chat.ConversationSID, ChannelSID: v.Chat.ChannelSID}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}

// sessionEvents streams the session's state changes as Server-Sent Events: the current state
// first, then one event per change; the stream ends after a terminal state.
func (s *server) sessionEvents(c echo.Context) error {
	id := c.Param("id")
	if err := s.authorizeSession(c, id, true); err != nil {
		return err
	}
	ctx := c.Request().Context()
	events, err := s.broker.Watch(ctx, id)
	if err != nil {
		return err
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	w.Flush()
	s.metrics().StreamOpened()
	defer s.metrics().StreamClosed()
	heartbeat := time.NewTicker(s.cfg.HeartbeatInterval)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-heartbeat.C:
			if _, err := io.WriteString(w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			w.Flush()
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			data, _ := json.Marshal(ev)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: status\ndata: %s\n\n", ev.Version, data); err != nil {
				return nil
			}
			w.Flush()
		}
	}
}

func (s *server) sessionQRPNG(c echo.Context) error {
	return s.sessionQR(c, "image/png", qrPNG)
}

func (s *server) sessionQRSVG(c echo.Context) error {
	return s.sessionQR(c, "image/svg+xml", qrSVG)
}

// sessionQR renders the session's invitation link as a QR code. It needs no token: it shows
// only the public invitation link, and <img> tags cannot send headers.
func (s *server) sessionQR(c echo.Context, contentType string, render func(string) ([]byte, error)) error {
	sess, err := s.broker.Session(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	img, err := render(s.cfg.PublicURL + "/i/" + sess.ID)
	if err != nil {
		return fmt.Errorf("render QR code: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=600")
	return c.Blob(http.StatusOK, contentType, img)
}

// invitation is the short link a QR code carries: the invitation as JSON for wallets that ask
// for it, otherwise a redirect to the didcomm:// deep link that opens the customer's wallet.
func (s *server) invitation(c echo.Context) error {
	sess, err := s.broker.Session(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	switch {
	case sess.Status == broker.StatusExpired:
		return problem(http.StatusGone, "invitation_expired", "this invitation has expired; start a new session")
	case sess.Status != broker.StatusInvited:
		return problem(http.StatusGone, "invitation_used", "this invitation has already been used")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	if acceptsJSON(c.Request()) {
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, sess.Invitation)
	}
	return c.Redirect(http.StatusFound, deepLink(sess.Invitation))
}

// authorizeSession checks the session token: the Authorization header, or for event streams
// (EventSource cannot set headers) the token query parameter.
func (s *server) authorizeSession(c echo.Context, id string, allowQuery bool) error {
	token, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok && allowQuery {
		token = c.QueryParam("token")
	}
	if token == "" {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="hearro"`)
		return problem(http.StatusUnauthorized, "unauthorized", "send the session_token as a Bearer token")
	}
	if err := s.cfg.Tokens.Check(token, id); err != nil {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="hearro", error="invalid_token"`)
		return problem(http.StatusUnauthorized, "invalid_token", "the session token is invalid, expired or for another session")
	}
	return nil
}

// decodeOptionalJSON decodes a JSON body if there is one; an empty body is an empty request.
func decodeOptionalJSON(c echo.Context, v any) error {
	req := c.Request()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return problem(http.StatusRequestEntityTooLarge, "payload_too_large", "request body too large")
		}
		return problem(http.StatusBadRequest, "invalid_request", "could not read the request body")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	if ct := req.Header.Get(echo.HeaderContentType); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || (mt != echo.MIMEApplicationJSON && !strings.HasSuffix(mt, "+json")) {
			return problem(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return problem(http.StatusBadRequest, "invalid_json", "request body is not valid: %v", err)
	}
	if dec.More() {
		return problem(http.StatusBadRequest, "invalid_json", "request body has trailing data")
	}
	return nil
}

func acceptsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get(echo.HeaderAccept), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == echo.MIMEApplicationJSON || strings.HasSuffix(mt, "+json")) {
			return true
		}
	}
	return false
}

// deepLink is the didcomm:// link of an invitation (RFC 0434 URL form on the didcomm scheme).
func deepLink(invitation []byte) string {
	return "didcomm://invite?oob=" + base64.RawURLEncoding.EncodeToString(invitation)
}
