package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// crmReceiver is the CRM's webhook endpoint: it verifies each body's signature against the
// service's published keys, and can be told to fail.
type crmReceiver struct {
	t    *testing.T
	keys jwk.Set

	mu       sync.Mutex
	failures int // answer 500 to this many requests first
	always   bool
	accept   func(eventType string) bool // if set, every other event type is answered 503
	events   []map[string]any
	attempts map[string]int // event id → requests seen
}

func (r *crmReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Header.Get("Content-Type") != "application/jose" {
		r.t.Errorf("webhook content type %q", req.Header.Get("Content-Type"))
	}
	payload, err := jws.Verify(body, jws.WithKeySet(r.keys, jws.WithInferAlgorithmFromKey(true)))
	if err != nil {
		r.t.Errorf("webhook signature does not verify with /.well-known/jwks.json: %v", err)
		w.WriteHeader(400)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(payload, &ev); err != nil {
		r.t.Errorf("webhook payload: %v", err)
	}
	id, _ := ev["id"].(string)
	if req.Header.Get("Hearro-Event-Id") != id || req.Header.Get("Hearro-Event-Type") != ev["type"] {
		r.t.Errorf("headers %v do not match the signed event %v", req.Header, ev)
	}
	r.attempts[id]++
	if r.always || r.failures > 0 || r.accept != nil && !r.accept(ev["type"].(string)) {
		r.failures--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.attempts[id] == 1 || !r.seen(id) {
		r.events = append(r.events, ev)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (r *crmReceiver) seen(id string) bool {
	for _, e := range r.events {
		if e["id"] == id {
			return true
		}
	}
	return false
}

func (r *crmReceiver) eventTypes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e["type"].(string))
	}
	return out
}

func startReceiver(t *testing.T) (*crmReceiver, string) {
	r := &crmReceiver{t: t, attempts: map[string]int{}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL + "/hooks/hearro"
}

func (r *crmReceiver) trustKeysOf(t *testing.T, s *testService) {
	resp, body := do(t, "GET", s.url+"/.well-known/jwks.json", nil, "")
	keys, err := jwk.Parse(body)
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("jwks: %d %v", resp.StatusCode, err)
	}
	r.mu.Lock()
	r.keys = keys
	r.mu.Unlock()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCRMWebhooks(t *testing.T) {
	recv, endpoint := startReceiver(t)
	recv.failures = 1 // the first delivery fails: it is retried
	s := startTestServiceWith(t, func(c *serveConfig) { c.WebhookURLs = []string{endpoint} })
	recv.trustKeysOf(t, s)

	c, st, _ := s.boundSession(t)
	waitFor(t, "identity.verified and session.bound", func() bool {
		got := recv.eventTypes()
		return slices.Contains(got, "identity.verified") && slices.Contains(got, "session.bound")
	})
	recv.mu.Lock()
	for _, ev := range recv.events {
		data, _ := ev["data"].(map[string]any)
		switch ev["type"] {
		case "identity.verified":
			ident, _ := data["identity"].(map[string]any)
			if data["session_id"] != c.ID || ident["id"] != st.IdentityID || ident["flex_identity"] != st.Chat.Identity {
				t.Errorf("identity.verified: %v", ev)
			}
		case "session.bound":
			if data["session_id"] != c.ID || data["identity_id"] != st.IdentityID {
				t.Errorf("session.bound: %v", ev)
			}
		}
	}
	retried := false
	for _, n := range recv.attempts {
		retried = retried || n > 1
	}
	recv.mu.Unlock()
	if !retried {
		t.Error("the failed delivery was not retried")
	}

	resp, _ := do(t, "DELETE", s.url+"/v1/identities/"+st.IdentityID, map[string]string{"Authorization": s.crmToken(t, "identities:write")}, "")
	if resp.StatusCode != 204 {
		t.Fatalf("erase: %d", resp.StatusCode)
	}
	waitFor(t, "identity.erased", func() bool { return slices.Contains(recv.eventTypes(), "identity.erased") })

	self := s.createSession(t)
	if _, _, err := runWallet(t, t.TempDir(), self.InvitationURL, func(w *walletConfig) { w.SelfIssued = true }); err == nil {
		t.Fatal("a self-issued credential was accepted")
	}
	waitFor(t, "session.rejected", func() bool { return slices.Contains(recv.eventTypes(), "session.rejected") })
}

func TestCRMWebhookDeadLetters(t *testing.T) {
	recv, endpoint := startReceiver(t)
	recv.always = true
	s := startTestServiceWith(t, func(c *serveConfig) { c.WebhookURLs, c.WebhookMaxAttempts = []string{endpoint}, 2 })
	recv.trustKeysOf(t, s)
	self := s.createSession(t)
	runWallet(t, t.TempDir(), self.InvitationURL, func(w *walletConfig) { w.SelfIssued = true })

	var dead struct {
		Items []struct {
			Type      string         `json:"type"`
			Attempts  int            `json:"attempts"`
			LastError string         `json:"last_error"`
			Event     map[string]any `json:"event"`
		} `json:"items"`
	}
	waitFor(t, "a dead letter", func() bool {
		getJSON(t, s.url+"/v1/webhooks/dead-letters", s.crmToken(t, "identities:read"), &dead)
		return len(dead.Items) > 0
	})
	d := dead.Items[0]
	if d.Type != "session.rejected" || d.Attempts != 2 || d.LastError != "HTTP 503" || d.Event["type"] != "session.rejected" {
		t.Fatalf("dead letter %+v", d)
	}
}
