package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/identity/didcomm"
)

// inbox is an api.Inbox answering with a function.
type inbox func(ctx context.Context, contentType string, body io.Reader) error

func (f inbox) Receive(ctx context.Context, contentType string, body io.Reader) error {
	return f(ctx, contentType, body)
}

// refuseAll is an agent that cannot open any message.
type refuseAll struct{}

func (refuseAll) Receive(context.Context, string, io.Reader) error { return didcomm.ErrUnreadable }

// A DIDComm message the agent refuses while the store is down is answered 503 with
// Retry-After (the wallet sends it again later), not the agent's 4xx; otherwise the agent's
// refusal goes out as a problem document with its status, and readiness is asked only on refusals.
func TestDIDCommRefusalDuringAnOutageIs503(t *testing.T) {
	key, _ := api.NewSigningKey(make([]byte, 32))
	for _, tc := range []struct {
		name       string
		agent      error
		down       bool
		wantStatus int
		wantReady  bool
	}{
		{"202/accepted: readiness not asked", nil, true, http.StatusAccepted, false},
		{"400/refused while the store answers", didcomm.ErrUnreadable, false, http.StatusBadRequest, true},
		{"503/refused while the store is down", didcomm.ErrUnreadable, true, http.StatusServiceUnavailable, true},
		{"503/not processed while the store is down", didcomm.ErrNotProcessed, true, http.StatusServiceUnavailable, true},
		{"422/not processed while the store answers", didcomm.ErrNotProcessed, false, http.StatusUnprocessableEntity, true},
		{"415/not an envelope, whatever the store", didcomm.ErrUnsupportedMediaType, true, http.StatusUnsupportedMediaType, false},
		{"413/too large, whatever the store", didcomm.ErrTooLarge, true, http.StatusRequestEntityTooLarge, false},
		{"409/in flight, whatever the store", didcomm.ErrInFlight, true, http.StatusConflict, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			e := api.New(api.Config{
				PublicURL: "http://localhost:8080", AccessTokens: api.NewAccessTokens(key, "http://localhost:8080", "", nil),
				DIDComm: inbox(func(context.Context, string, io.Reader) error { return tc.agent }),
				Ready: func(context.Context) error {
					asked = true
					if tc.down {
						return errors.New("redis: connection refused")
					}
					return nil
				},
			}, nil)
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/didcomm", strings.NewReader("{}")))
			if rec.Code != tc.wantStatus || asked != tc.wantReady {
				t.Fatalf("status %d (readiness asked: %v), want %d (%v): %s", rec.Code, asked, tc.wantStatus, tc.wantReady, rec.Body)
			}
			switch rec.Code {
			case http.StatusServiceUnavailable:
				var p api.Problem
				if rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("Retry-After") == "" ||
					json.Unmarshal(rec.Body.Bytes(), &p) != nil || p.Code != "unavailable" || strings.Contains(rec.Body.String(), "connection refused") {
					t.Errorf("503: %v %s", rec.Header(), rec.Body)
				}
			case http.StatusAccepted:
			default:
				var p api.Problem
				if rec.Header().Get("Content-Type") != "application/problem+json" || json.Unmarshal(rec.Body.Bytes(), &p) != nil ||
					p.Code == "" || p.Detail != tc.agent.Error() {
					t.Errorf("the agent's answer was not passed on as a problem: %v %s", rec.Header(), rec.Body)
				}
			}
		})
	}
}
