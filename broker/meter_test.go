package broker_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
)

// countingMeter keeps the session outcomes a broker reports.
type countingMeter struct {
	mu    sync.Mutex
	ended map[string]int // "policy outcome reason"
}

func (m *countingMeter) SessionEnded(policy, outcome, reason string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended[policy+" "+outcome+" "+reason]++
}
func (m *countingMeter) PresentationVerified(string, string, time.Duration) {}
func (m *countingMeter) WalletMessage(string, string)                       {}
func (m *countingMeter) WebhookDelivery(string)                             {}

// A session that runs out of time is counted as expired exactly once, although two replicas
// sweep the same store and readers see it expired before the sweep records it.
func TestExpiryIsCountedOnce(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "b.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := &clock{now: time.Now()}
	m := &countingMeter{ended: map[string]int{}}
	events := broker.NewLocalEvents()
	var replicas []*broker.Service
	for range 2 {
		svc, err := broker.New(broker.Config{
			Domain: "https://verify.example.com", Policies: testPolicies(), DefaultPolicy: "default",
			PseudonymKey: make([]byte, 32), SessionTTL: time.Minute, Now: clk.Now, SweepInterval: 5 * time.Millisecond,
		}, broker.Deps{Store: db, Events: events, Wallets: &fakeWallets{}, Verifier: &fakeVerifier{}, Chats: &fakeChats{}, Meter: m})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close(context.Background()) })
		replicas = append(replicas, svc)
	}
	ctx := context.Background()
	s, err := replicas[0].CreateSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	if got, _ := replicas[1].Session(ctx, s.ID); got.Status != broker.StatusExpired {
		t.Fatalf("a due session reads as %s", got.Status)
	}
	m.mu.Lock()
	if len(m.ended) != 0 {
		t.Errorf("reading counted an outcome: %v", m.ended)
	}
	m.mu.Unlock()
	for _, svc := range replicas {
		run(t, svc)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, err := db.Session(ctx, s.ID); err == nil && st.Status == broker.StatusExpired {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweep did not record the expiry")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // more sweeps by both replicas
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ended) != 1 || m.ended["default expired "] != 1 {
		t.Errorf("outcomes %v, want one expired session of policy default", m.ended)
	}
}
