package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/internal/demo/wallet"
)

// BenchmarkSessionToBound measures the product's whole flow on loopback: POST /v1/sessions,
// the demo wallet connects (DID Exchange), is asked for and sends a presentation, the service
// verifies it, stores the identity, opens the chat in the Twilio emulator through twilio-go,
// and the session is bound. The wallet runs in the same process (its agent stays open across
// iterations, like a phone's), so allocations include both sides.
//
// Reported: the median and p90 of POST→bound, next to ns/op (the mean).
func BenchmarkSessionToBound(b *testing.B) {
	s := startTestService(b)
	dir := b.TempDir()
	db, err := boltstore.Open(filepath.Join(dir, "wallet.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	lock, _, err := masterLock(nil, dir)
	if err != nil {
		b.Fatal(err)
	}
	loader, _ := identity.NewContextLoader()
	w, err := wallet.Open(wallet.Config{Storage: db.AgentStorage(), SecretLock: lock, Loader: loader})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	cred, _, err := w.EnsureCredential(nil)
	if err != nil {
		b.Fatal(err)
	}

	var durations []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		resp, err := http.Post(s.url+"/v1/sessions", "application/json", nil)
		if err != nil {
			b.Fatal(err)
		}
		var c struct {
			ID         string          `json:"id"`
			Invitation json.RawMessage `json:"invitation"`
		}
		err = json.NewDecoder(resp.Body).Decode(&c)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusCreated {
			b.Fatalf("create session: %d %v", resp.StatusCode, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		events, err := s.broker.Watch(ctx, c.ID)
		if err != nil {
			b.Fatal(err)
		}
		out, err := w.Accept(ctx, c.Invitation, cred, nil)
		if err != nil || out.Status != "acknowledged" {
			b.Fatalf("wallet: %+v %v", out, err)
		}
		for ev := range events {
			if ev.Status == broker.StatusBound {
				break
			}
			if ev.Status.Terminal() {
				b.Fatalf("session ended %s (%s)", ev.Status, ev.Reason)
			}
		}
		cancel()
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(durations[len(durations)/2]), "ms-median")
	b.ReportMetric(ms(durations[len(durations)*9/10]), "ms-p90")
}
