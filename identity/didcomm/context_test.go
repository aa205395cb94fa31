package didcomm_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestAWalletHangingUpCancelsItsFetches: the presentation is handled under its HTTP request's
// context, so when the wallet gives up, a fetch its presentation caused (a did:web document, a
// status list) is cancelled instead of running on for nobody.
func TestAWalletHangingUpCancelsItsFetches(t *testing.T) {
	cancelled := make(chan time.Duration, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		select {
		case <-r.Context().Done():
			cancelled <- time.Since(start)
		case <-time.After(20 * time.Second):
		}
	}))
	defer slow.Close()

	agent, base := startVerifier(t)
	h := newVerifierHandler(t, agent, base)
	h.fetch = slow.URL
	// The wallet waits 2 s for an answer to each message it sends, then hangs up.
	w, cred := demoWallet(t, &http.Client{Timeout: 2 * time.Second})
	inv, err := agent.CreateInvitation(context.Background(), "test", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	go func() { _, _ = w.Accept(ctx, inv.JSON, cred, nil) }()
	select {
	case d := <-cancelled:
		t.Logf("the fetch was cancelled %s after it began, when the wallet hung up", d.Round(time.Millisecond))
	case <-time.After(12 * time.Second):
		t.Fatal("the wallet hung up and the fetch its presentation caused ran on")
	}
	if got := <-h.outcomes; got != "cancelled" {
		t.Errorf("handler outcome %q, want cancelled", got)
	}
}

// TestASecondCopyOfAMessageInFlightIsRefused: while the agent handles a message, the same
// message sent again (a replay, or an impatient retry) is answered 409, not handled twice
// under one id.
func TestASecondCopyOfAMessageInFlightIsRefused(t *testing.T) {
	inFetch := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inFetch <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()

	agent, base := startVerifier(t)
	h := newVerifierHandler(t, agent, base)
	h.fetch = slow.URL
	rec := &lastPost{next: http.DefaultTransport}
	w, cred := demoWallet(t, &http.Client{Timeout: 10 * time.Second, Transport: rec})
	inv, err := agent.CreateInvitation(context.Background(), "test", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	accepted := make(chan struct{})
	go func() { _, _ = w.Accept(ctx, inv.JSON, cred, nil); close(accepted) }()
	select {
	case <-inFetch: // the presentation is being handled
	case <-time.After(10 * time.Second):
		t.Fatal("the presentation never reached the handler")
	}
	url, contentType, body := rec.last()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	close(release)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("the same message again while in flight: %d, want 409", resp.StatusCode)
	}
	if got := <-h.outcomes; got != "verified" { // the first copy, handled once
		t.Errorf("handler outcome %q, want verified", got)
	}
	<-accepted // the wallet has its answer: the agent is done with the first copy
}

// lastPost remembers the last message a wallet POSTed.
type lastPost struct {
	next http.RoundTripper
	mu   sync.Mutex
	url  string
	ct   string
	body []byte
}

func (l *lastPost) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		l.mu.Lock()
		l.url, l.ct, l.body = r.URL.String(), r.Header.Get("Content-Type"), b
		l.mu.Unlock()
	}
	return l.next.RoundTrip(r)
}

func (l *lastPost) last() (string, string, []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.url, l.ct, l.body
}
