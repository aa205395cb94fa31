package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/flex"
)

const (
	hookToken  = "devAuthTokenPublicNotSecret00000"
	hookPublic = "http://localhost:8080"
)

// chatCloser is the broker as the Twilio webhooks use it: it counts the chats it closed and
// fails while fail is set.
type chatCloser struct {
	api.Broker
	mu     sync.Mutex
	closed map[string]int
	fail   error
}

func (b *chatCloser) ChatClosed(_ context.Context, sid string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.closed[sid]++
	return nil
}

func (b *chatCloser) count(sid string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed[sid]
}

// flakyGuard is a replay guard in memory that fails, like a store that is down, while down is
// set.
type flakyGuard struct {
	mu   sync.Mutex
	seen map[string]bool
	down bool
}

func (g *flakyGuard) FirstSeen(_ context.Context, key string, _ time.Time, _ time.Duration) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return false, errors.New("connection refused")
	}
	fresh := !g.seen[key]
	g.seen[key] = true
	return fresh, nil
}

func (g *flakyGuard) Forget(_ context.Context, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.seen, key)
	return nil
}

func (g *flakyGuard) setDown(down bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = down
}

// TestTwilioWebhookDeliveries: a delivery is processed once; the same delivery again is
// acknowledged (200) without being processed; while the replay guard is down it is 503 and
// not processed; when processing fails the delivery is released, so Twilio's retry is
// processed — no event is lost.
func TestTwilioWebhookDeliveries(t *testing.T) {
	guard := &flakyGuard{seen: map[string]bool{}}
	verifier, err := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: hookToken, PublicURL: hookPublic, Replay: guard})
	if err != nil {
		t.Fatal(err)
	}
	b := &chatCloser{closed: map[string]int{}}
	key, _ := api.NewSigningKey(make([]byte, 32))
	e := api.New(api.Config{PublicURL: hookPublic, Webhooks: verifier,
		AccessTokens: api.NewAccessTokens(key, hookPublic, "", nil)}, b)
	deliver := func(chat string) *httptest.ResponseRecorder {
		form := url.Values{"EventType": {"onConversationStateUpdated"}, "ConversationSid": {chat},
			"StateFrom": {"active"}, "StateTo": {"closed"}, "RetryCount": {"0"}}
		r := httptest.NewRequest(http.MethodPost, "/v1/twilio/conversations", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(flex.SignatureHeader, flex.SignWebhook(hookToken, hookPublic+"/v1/twilio/conversations", form))
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, r)
		return rec
	}
	const chatA, chatB, chatC = "CH00000000000000000000000000000001", "CH00000000000000000000000000000002", "CH00000000000000000000000000000003"

	t.Run("204/first delivery processed; 200/the same again, not processed", func(t *testing.T) {
		if rec := deliver(chatA); rec.Code != http.StatusNoContent {
			t.Fatalf("first: %d %s", rec.Code, rec.Body)
		}
		if rec := deliver(chatA); rec.Code != http.StatusOK {
			t.Fatalf("duplicate: %d %s, want 200", rec.Code, rec.Body)
		}
		if n := b.count(chatA); n != 1 {
			t.Fatalf("processed %d times, want once", n)
		}
	})
	t.Run("503/replay guard down: not processed, then processed when Twilio retries", func(t *testing.T) {
		guard.setDown(true)
		rec := deliver(chatB)
		guard.setDown(false)
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"unavailable"`) ||
			rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("guard down: %d %s %s, want 503 problem", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		if n := b.count(chatB); n != 0 {
			t.Fatalf("processed %d times while the guard was down", n)
		}
		if rec := deliver(chatB); rec.Code != http.StatusNoContent || b.count(chatB) != 1 {
			t.Fatalf("Twilio's retry: %d, processed %d times; want 204, once", rec.Code, b.count(chatB))
		}
	})
	t.Run("503/processing failed: released, so Twilio's retry is processed", func(t *testing.T) {
		b.mu.Lock()
		b.fail = broker.ErrUnavailable
		b.mu.Unlock()
		rec := deliver(chatC)
		b.mu.Lock()
		b.fail = nil
		b.mu.Unlock()
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("failed processing: %d %s, want 503", rec.Code, rec.Body)
		}
		if rec := deliver(chatC); rec.Code != http.StatusNoContent || b.count(chatC) != 1 {
			t.Fatalf("Twilio's retry: %d, processed %d times; want 204, once", rec.Code, b.count(chatC))
		}
		if rec := deliver(chatC); rec.Code != http.StatusOK || b.count(chatC) != 1 {
			t.Fatalf("and again: %d, processed %d times; want 200, once", rec.Code, b.count(chatC))
		}
	})
}
