package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// replica returns an event bus on its own store (its own Redis client), like one service
// replica, ready to receive.
func replica(t testing.TB, url, prefix string, opts redisstore.EventsOptions) *redisstore.Events {
	t.Helper()
	e := redisstore.NewEvents(open(t, url, prefix), opts)
	t.Cleanup(func() { _ = e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func receive(t testing.TB, ch <-chan broker.Event, within time.Duration) (broker.Event, bool) {
	t.Helper()
	select {
	case ev, ok := <-ch:
		return ev, ok
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
		return broker.Event{}, false
	}
}

func TestEvents(t *testing.T) {
	topologies(t, func(t *testing.T, _, url string) {
		prefix := newPrefix()
		a := replica(t, url, prefix, redisstore.EventsOptions{})
		b := replica(t, url, prefix, redisstore.EventsOptions{})
		ctx := t.Context()

		onB, cancelB, err := b.Subscribe(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		defer cancelB()
		onA, cancelA, err := a.Subscribe(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		defer cancelA()
		other, cancelOther, _ := b.Subscribe(ctx, "s2")
		defer cancelOther()

		at := time.Date(2031, 3, 14, 9, 26, 53, 589793238, time.UTC)
		sent := broker.Event{SessionID: "s1", Status: broker.StatusVerified, At: at, Version: 4}
		if err := a.Publish(ctx, sent); err != nil {
			t.Fatalf("Publish = %v", err)
		}
		for replica, ch := range map[string]<-chan broker.Event{"B (other replica)": onB, "A (publisher)": onA} {
			if got, _ := receive(t, ch, 5*time.Second); got != sent {
				t.Errorf("%s received %+v, want %+v", replica, got, sent)
			}
		}
		// A second event shows nothing else was queued: no echo on A, nothing for s2.
		next := broker.Event{SessionID: "s1", Status: broker.StatusRejected, Reason: "revoked", At: at, Version: 5}
		if err := b.Publish(ctx, next); err != nil {
			t.Fatal(err)
		}
		for replica, ch := range map[string]<-chan broker.Event{"A": onA, "B": onB} {
			if got, _ := receive(t, ch, 5*time.Second); got != next {
				t.Errorf("%s received %+v, want the second event %+v", replica, got, next)
			}
		}
		select {
		case ev := <-other:
			t.Errorf("subscriber of s2 received %+v", ev)
		default:
		}

		cancelB()
		cancelB() // idempotent
		if err := a.Publish(ctx, broker.Event{SessionID: "s1", Version: 6}); err != nil {
			t.Fatal(err)
		}
		if got, _ := receive(t, onA, 5*time.Second); got.Version != 6 {
			t.Errorf("A received %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
		select {
		case ev := <-onB:
			t.Errorf("cancelled subscriber received %+v", ev)
		default:
		}
	})
}

// TestIdentityChangesReachEveryReplica: an identity change announced on one replica reaches
// the watchers of every replica once (the announcer's directly, without Redis's echo), as a
// message of its own kind: session subscribers see nothing of it.
func TestIdentityChangesReachEveryReplica(t *testing.T) {
	u, prefix := redistest.Server(t).URL(), newPrefix()
	a := replica(t, u, prefix, redisstore.EventsOptions{})
	b := replica(t, u, prefix, redisstore.EventsOptions{})
	ctx := t.Context()
	onA, cancelA, err := a.IdentityChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cancelA()
	onB, cancelB, err := b.IdentityChanges(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cancelB()
	sessions, cancelS, _ := b.Subscribe(ctx, "01JIDENTITY")
	defer cancelS()

	for _, id := range []string{"01JIDENTITY", "01JSECOND"} {
		if err := a.AnnounceIdentityChange(ctx, id); err != nil {
			t.Fatal(err)
		}
		for name, ch := range map[string]<-chan string{"A (announcer)": onA, "B": onB} {
			select {
			case got := <-ch:
				if got != id {
					t.Errorf("%s: %q, want %q", name, got, id)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: no notice of %s", name, id)
			}
		}
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case got := <-onA:
		t.Errorf("the announcer got a notice twice (Redis's echo): %q", got)
	case ev := <-sessions:
		t.Errorf("a session subscriber got an identity notice: %+v", ev)
	default:
	}
}

// TestEventsSlowSubscriber: a subscriber that does not read loses events beyond its buffer;
// publishers on either replica never block.
func TestEventsSlowSubscriber(t *testing.T) {
	u, prefix := redistest.Server(t).URL(), newPrefix()
	a := replica(t, u, prefix, redisstore.EventsOptions{Buffer: 4})
	b := replica(t, u, prefix, redisstore.EventsOptions{Buffer: 4})
	slowA, cancel1, _ := a.Subscribe(t.Context(), "s1")
	defer cancel1()
	slowB, cancel2, _ := b.Subscribe(t.Context(), "s1")
	defer cancel2()
	start := time.Now()
	for v := range 100 {
		if err := a.Publish(t.Context(), broker.Event{SessionID: "s1", Version: int64(v + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("100 publishes to slow subscribers took %s", took)
	}
	// B's receive loop (one for every session: they share the channel) must keep going: a
	// fresh subscriber there still gets new events. It watches another session, so that the
	// tail of the 100, still on its way to B, cannot fill its buffer first.
	fresh, cancel3, _ := b.Subscribe(t.Context(), "s2")
	defer cancel3()
	if err := a.Publish(t.Context(), broker.Event{SessionID: "s2", Version: 1000}); err != nil {
		t.Fatal(err)
	}
	if ev, _ := receive(t, fresh, 5*time.Second); ev.Version != 1000 {
		t.Fatalf("fresh subscriber got version %d, want 1000", ev.Version)
	}
	// By now B has read the 100 too (they were published first, on the same channel).
	if len(slowA) != 4 || len(slowB) != 4 {
		t.Errorf("slow subscribers hold %d and %d events, want their buffers full (4)", len(slowA), len(slowB))
	}
	if ev := <-slowB; ev.Version != 1 {
		t.Errorf("slow subscriber's first event has version %d, want 1 (the later ones were dropped)", ev.Version)
	}
}

// TestEventsReconnect restarts Redis under two replicas: B's subscribers see their channel
// closed (they may have missed events, so they must re-read the session), publishing with
// Redis down fails with broker.ErrUnavailable but still reaches the publisher's own
// subscribers, and once go-redis has resubscribed events flow across replicas again.
func TestEventsReconnect(t *testing.T) {
	srv := redistest.Server(t)
	prefix := newPrefix()
	opts := redisstore.EventsOptions{HealthCheck: 200 * time.Millisecond}
	a := replica(t, srv.URL(), prefix, opts)
	b := replica(t, srv.URL(), prefix, opts)
	ctx := t.Context()
	onB, cancel, _ := b.Subscribe(ctx, "s1")
	defer cancel()
	changesB, cancelChanges, _ := b.IdentityChanges(ctx)
	defer cancelChanges()

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	onA, cancelA, _ := a.Subscribe(ctx, "s1")
	defer cancelA()
	err := a.Publish(ctx, broker.Event{SessionID: "s1", Version: 1})
	if !errors.Is(err, broker.ErrUnavailable) {
		t.Errorf("Publish with Redis down = %v, want ErrUnavailable", err)
	}
	if ev, _ := receive(t, onA, time.Second); ev.Version != 1 {
		t.Errorf("publisher's own subscriber got %+v while Redis was down", ev)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	// B resubscribes and closes its old subscribers' channels.
	if _, ok := receive(t, onB, 20*time.Second); ok {
		t.Error("B's subscriber channel was not closed after the resubscription")
	}
	select {
	case _, ok := <-changesB:
		if ok {
			t.Error("B's identity change watcher got a notice instead of a closed channel")
		}
	case <-time.After(20 * time.Second):
		t.Error("B's identity change watcher was not closed after the resubscription: it may have missed notices")
	}
	again, cancel2, _ := b.Subscribe(ctx, "s1")
	defer cancel2()
	deadline := time.Now().Add(20 * time.Second)
	for v := int64(2); ; v++ {
		if err := a.Publish(ctx, broker.Event{SessionID: "s1", Version: v}); err == nil {
			select {
			case ev, ok := <-again:
				if !ok {
					t.Fatal("new subscriber's channel closed")
				}
				if ev.Version >= 2 {
					return
				}
			case <-time.After(100 * time.Millisecond):
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("events do not flow between replicas after Redis came back")
		}
	}
}

// TestEventsLatency measures publish → receive between two replicas (separate clients) on
// loopback and checks the median against the 50 ms target.
func TestEventsLatency(t *testing.T) {
	u, prefix := redistest.Server(t).URL(), newPrefix()
	a := replica(t, u, prefix, redisstore.EventsOptions{})
	b := replica(t, u, prefix, redisstore.EventsOptions{})
	med, p90 := measureLatency(t, a, b, 200)
	t.Logf("publish → receive across replicas: median %s, p90 %s (200 events)", med, p90)
	if med > 50*time.Millisecond {
		t.Errorf("median latency %s, target under 50 ms", med)
	}
}

func measureLatency(t testing.TB, a, b *redisstore.Events, n int) (median, p90 time.Duration) {
	ctx := context.Background()
	ch, cancel, err := b.Subscribe(ctx, "lat")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	lat := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		if err := a.Publish(ctx, broker.Event{SessionID: "lat", Version: int64(i + 1)}); err != nil {
			t.Fatal(err)
		}
		for {
			ev, _ := receive(t, ch, 5*time.Second)
			if ev.Version == int64(i+1) {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*9/10]
}
