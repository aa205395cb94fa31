package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/api"
)

// A DIDComm message the agent refuses while the store is down is answered 503 with
// Retry-After (the wallet sends it again later), not the agent's 4xx; otherwise the agent's
// answer goes out as it is, and readiness is asked only on refusals.
func TestDIDCommRefusalDuringAnOutageIs503(t *testing.T) {
	key, _ := api.NewSigningKey(make([]byte, 32))
	for _, tc := range []struct {
		name       string
		agent      int
		down       bool
		wantStatus int
		wantReady  bool
	}{
		{"202/accepted: readiness not asked", http.StatusAccepted, true, http.StatusAccepted, false},
		{"400/refused while the store answers", http.StatusBadRequest, false, http.StatusBadRequest, true},
		{"503/refused while the store is down", http.StatusBadRequest, true, http.StatusServiceUnavailable, true},
		{"503/not processed while the store is down", http.StatusUnprocessableEntity, true, http.StatusServiceUnavailable, true},
		{"415/not an envelope, whatever the store", http.StatusUnsupportedMediaType, true, http.StatusUnsupportedMediaType, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			asked := false
			e := api.New(api.Config{
				PublicURL: "http://localhost:8080", AccessTokens: api.NewAccessTokens(key, "http://localhost:8080", "", nil),
				DIDComm: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					if tc.agent == http.StatusAccepted {
						w.WriteHeader(tc.agent)
						return
					}
					http.Error(w, "cannot unpack message", tc.agent)
				}),
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
			case http.StatusBadRequest:
				if !strings.Contains(rec.Body.String(), "cannot unpack message") {
					t.Errorf("the agent's answer was not passed on: %s", rec.Body)
				}
			}
		})
	}
}
