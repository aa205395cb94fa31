package redisstore_test

import (
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// TestSweepSetsForgetSessionsRedisDropped: a session whose key Redis expired (its retention
// passed while no replica swept) is not returned by the sweep's reads, and its members leave
// the sweep sets, so that it cannot hold back the sessions behind it.
func TestSweepSetsForgetSessionsRedisDropped(t *testing.T) {
	srv := redistest.Server(t)
	st, err := redisstore.Open(t.Context(), srv.URL(), redisstore.Options{Prefix: "sweep", MasterKey: make([]byte, redisstore.MasterKeySize),
		SessionRetention: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	now := time.Now()
	for i, id := range []string{"gone", "kept"} {
		s := &broker.Session{ID: id, Status: broker.StatusCreated, Policy: "p", Nonce: "n", CreatedAt: now, UpdatedAt: now,
			ExpiresAt: now.Add(time.Duration(i) * time.Hour)} // "gone" expired already: its key goes at once
		if i == 0 {
			s.ExpiresAt = now.Add(-time.Hour)
		}
		if err := st.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Transition(ctx, id, broker.Transition{From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited}, now); err != nil && id == "kept" {
			t.Fatal(err)
		}
	}
	ids, err := st.SessionsDue(ctx, now.Add(2*time.Hour), 1)
	if err != nil || len(ids) != 1 || ids[0] != "kept" {
		t.Fatalf("SessionsDue = %q, %v; want [kept]", ids, err)
	}
	if n := st.Client().ZCard(ctx, "sweep:{b}:sw:due").Val(); n != 1 {
		t.Errorf("the due set holds %d members after the read, want 1", n)
	}
}
