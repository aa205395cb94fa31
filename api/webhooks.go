package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/hearro/trustbroker/broker"
)

// Webhook request headers besides the signed body.
const (
	HeaderEventID   = "Hearro-Event-Id"
	HeaderEventType = "Hearro-Event-Type"
	HeaderAttempt   = "Hearro-Delivery-Attempt"
)

// WebhookSender POSTs CRM webhooks: the body is the event as a compact JWS (EdDSA) signed by
// the service's key, whose public half is at /.well-known/jwks.json (the JWS header names it
// with kid). Content-Type application/jose. Safe for concurrent use.
type WebhookSender struct {
	key    *SigningKey
	client *http.Client
}

// NewWebhookSender returns a sender signing with key and sending with client (which must
// have a timeout).
func NewWebhookSender(key *SigningKey, client *http.Client) *WebhookSender {
	return &WebhookSender{key: key, client: client}
}

// Sign returns the compact JWS of an event payload.
func (w *WebhookSender) Sign(payload []byte) ([]byte, error) {
	h := jws.NewHeaders()
	_ = h.Set(jws.ContentTypeKey, "application/json")
	_ = h.Set(jws.TypeKey, "hearro-event+jws")
	return jws.Sign(payload, jws.WithKey(jwa.EdDSA, w.key.private, jws.WithProtectedHeaders(h)))
}

// Send delivers one webhook; any status but 2xx is a failed attempt.
func (w *WebhookSender) Send(ctx context.Context, d broker.Delivery) (time.Duration, error) {
	body, err := w.Sign(d.Payload)
	if err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/jose")
	req.Header.Set(HeaderEventID, d.EventID)
	req.Header.Set(HeaderEventType, d.Type)
	req.Header.Set(HeaderAttempt, strconv.Itoa(d.Attempts+1))
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	var retryAfter time.Duration
	if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
		retryAfter = time.Duration(min(secs, 86400)) * time.Second
	}
	return retryAfter, fmt.Errorf("HTTP %d", resp.StatusCode)
}

type deadLetter struct {
	ID        string    `json:"id"`
	EventID   string    `json:"event_id"`
	Type      string    `json:"type"`
	Endpoint  string    `json:"endpoint"`
	CreatedAt time.Time `json:"created_at"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	// Event is the event that was to be delivered.
	Event any `json:"event"`
}

// deadLetters: GET /v1/webhooks/dead-letters — deliveries that failed every attempt.
func (s *server) deadLetters(c echo.Context) error {
	limit := DefaultPageSize
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > broker.MaxPageSize {
			return problem(http.StatusBadRequest, "invalid_filter", "limit must be an integer from 1 to %d", broker.MaxPageSize)
		}
		limit = n
	}
	list, err := s.broker.DeadLetters(c.Request().Context(), c.QueryParam("after"), limit)
	if err != nil {
		return err
	}
	out := struct {
		Items []deadLetter `json:"items"`
	}{Items: make([]deadLetter, 0, len(list))}
	for _, d := range list {
		out.Items = append(out.Items, deadLetter{ID: d.ID, EventID: d.EventID, Type: d.Type, Endpoint: d.Endpoint,
			CreatedAt: d.CreatedAt, Attempts: d.Attempts, LastError: d.LastError, Event: d.Payload})
	}
	return c.JSON(http.StatusOK, out)
}
