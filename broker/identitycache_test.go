package broker_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// countingStore counts the identity reads that reach the store.
type countingStore struct {
	broker.Store
	reads atomic.Int32
}

func (s *countingStore) Identity(ctx context.Context, id string) (*broker.Identity, error) {
	s.reads.Add(1)
	return s.Store.Identity(ctx, id)
}

func (s *countingStore) IdentityByFlex(ctx context.Context, flex string) (*broker.Identity, error) {
	s.reads.Add(1)
	return s.Store.IdentityByFlex(ctx, flex)
}

// switchableEvents is an event bus between replicas that the test can make deaf (identity
// change notices are lost) or cut (their subscriptions closed, as the Redis bus does when it
// resubscribes).
type switchableEvents struct {
	*broker.LocalEvents
	deaf atomic.Bool

	mu   sync.Mutex
	subs []chan string
}

func (e *switchableEvents) AnnounceIdentityChange(_ context.Context, id string) error {
	if e.deaf.Load() {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range e.subs {
		select {
		case ch <- id:
		default:
		}
	}
	return nil
}

func (e *switchableEvents) IdentityChanges(context.Context) (<-chan string, func(), error) {
	ch := make(chan string, 16)
	e.mu.Lock()
	e.subs = append(e.subs, ch)
	e.mu.Unlock()
	return ch, func() {}, nil
}

func (e *switchableEvents) cut() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, ch := range e.subs {
		close(ch)
	}
	e.subs = nil
}

// TestIdentityCacheAcrossReplicas: replica B serves an identity from memory, and stops as soon
// as replica A's erasure notice reaches it — long before its TTL; a notice B missed is bounded
// by the TTL; a cut bus empties B's cache.
func TestIdentityCacheAcrossReplicas(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Minute // on the fake clock: only an invalidation can end an entry early
	bus := &switchableEvents{LocalEvents: broker.NewLocalEvents()}
	var bStore *countingStore
	var b *broker.Service
	a := newHarness(t)
	{
		// Replica A (the harness) runs on the shared bus as well.
		cfg := broker.Config{
			Domain: "https://verify.example.com", Policies: testPolicies(),
			DefaultPolicy: "default", PseudonymKey: make([]byte, 32), SessionTTL: time.Minute, Now: a.clock.Now,
			IdentityCacheTTL: ttl,
		}
		var err error
		a.svc, err = broker.New(cfg, broker.Deps{Store: a.store, Events: bus, Wallets: a.wallets, Verifier: a.verify, Chats: a.chats})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.svc.Close(ctx) })
		run(t, a.svc)
		bStore = &countingStore{Store: a.store}
		b, err = broker.New(cfg, broker.Deps{Store: bStore, Events: bus, Wallets: a.wallets, Verifier: a.verify, Chats: a.chats})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close(ctx) })
		run(t, b)
	}
	verified := func(holder string) *broker.Identity {
		t.Helper()
		s, peer := a.requested(t)
		present(a, peer, "ok:"+holder)
		ident, err := a.svc.Identity(ctx, a.status(t, s.ID, broker.StatusBound).IdentityID)
		if err != nil {
			t.Fatal(err)
		}
		return ident
	}
	readOnB := func(id string) (*broker.Identity, error) {
		t.Helper()
		var ident *broker.Identity
		var err error
		deadline := time.Now().Add(5 * time.Second)
		for { // B follows changes once its subscription is up
			if ident, err = b.Identity(ctx, id); err != nil || time.Now().After(deadline) {
				return ident, err
			}
			before := bStore.reads.Load()
			if _, err = b.Identity(ctx, id); err != nil || bStore.reads.Load() == before {
				return ident, err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitGone := func(what, id string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := b.Identity(ctx, id)
			if errors.Is(err, broker.ErrNotFound) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: B still serves the erased identity (err %v)", what, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	// Served from memory: by ID, then by pseudonym, without a store read.
	ada := verified("did:key:ada")
	if _, err := readOnB(ada.ID); err != nil {
		t.Fatal(err)
	}
	before := bStore.reads.Load()
	for range 5 {
		if got, err := b.Identity(ctx, ada.ID); err != nil || got.ID != ada.ID || got.Claims["memberId"] != "12345" {
			t.Fatalf("cached read: %+v %v", got, err)
		}
		if got, err := b.IdentityByFlex(ctx, ada.FlexIdentity); err != nil || got.ID != ada.ID {
			t.Fatalf("cached read by pseudonym: %+v %v", got, err)
		}
	}
	if n := bStore.reads.Load() - before; n != 0 {
		t.Fatalf("%d store reads for cached identities", n)
	}

	// A erases: A at once, B as soon as the notice arrives (the fake clock never moves).
	if err := a.svc.EraseIdentity(ctx, ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.Identity(ctx, ada.ID); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("A after its own erasure: %v", err)
	}
	waitGone("the notice", ada.ID)
	if _, err := b.IdentityByFlex(ctx, ada.FlexIdentity); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("B by pseudonym after the notice: %v", err)
	}

	// A notice B misses: B serves the old identity until its TTL, not longer.
	bob := verified("did:key:bob")
	if _, err := readOnB(bob.ID); err != nil {
		t.Fatal(err)
	}
	bus.deaf.Store(true)
	if err := a.svc.EraseIdentity(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	bus.deaf.Store(false)
	time.Sleep(20 * time.Millisecond)
	if _, err := b.Identity(ctx, bob.ID); err != nil {
		t.Fatalf("the missed notice: B should still serve from memory within the TTL, got %v", err)
	}
	a.clock.Advance(ttl)
	if _, err := b.Identity(ctx, bob.ID); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("the missed notice: B served past its TTL: %v", err)
	}

	// The bus is cut (it may have lost notices): B forgets everything and follows again.
	cy := verified("did:key:cy")
	if _, err := readOnB(cy.ID); err != nil {
		t.Fatal(err)
	}
	bus.cut()
	deadline := time.Now().Add(5 * time.Second)
	for {
		before := bStore.reads.Load()
		if _, err := b.Identity(ctx, cy.ID); err != nil {
			t.Fatal(err)
		}
		if bStore.reads.Load() > before {
			break // read from the store again
		}
		if time.Now().After(deadline) {
			t.Fatal("B kept its cache after the bus was cut")
		}
		time.Sleep(2 * time.Millisecond)
	}
	if _, err := readOnB(cy.ID); err != nil { // cached again once it follows again
		t.Fatal(err)
	}
	if err := a.svc.EraseIdentity(ctx, cy.ID); err != nil {
		t.Fatal(err)
	}
	waitGone("the notice after resubscribing", cy.ID)
}
