package didcomm_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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
