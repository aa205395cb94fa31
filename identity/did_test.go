package identity_test

import (
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/hearro/trustbroker/identity"
)

// fakeResolver is a stateful fake: it counts lookups per DID, fails with err while it is set,
// and, while hold is set, makes lookups wait for it to close (or for their context).
type fakeResolver struct {
	mu    sync.Mutex
	calls map[string]int
	err   error
	hold  chan struct{}
}

func newFakeResolver() *fakeResolver { return &fakeResolver{calls: map[string]int{}} }

func (r *fakeResolver) Resolve(ctx context.Context, did string) (*identity.DIDDocument, error) {
	r.mu.Lock()
	r.calls[did]++
	err, hold := r.err, r.hold
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, &identity.RejectError{Reason: identity.ReasonUnresolvableDID, Detail: ctx.Err().Error()}
		}
	}
	if err != nil {
		return nil, err
	}
	return &identity.DIDDocument{ID: did}, nil
}

func (r *fakeResolver) set(err error, hold chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err, r.hold = err, hold
}

func (r *fakeResolver) count(did string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[did]
}

// fakeClock is a clock tests move by hand; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}

const cachedDID = "did:web:issuer.example.com"

func TestCachedResolverKeepsDocumentsForTheirTTL(t *testing.T) {
	next, clock := newFakeResolver(), newFakeClock()
	c := identity.NewCachedResolver(next, identity.CacheConfig{TTL: time.Minute, Now: clock.now})
	ctx := context.Background()
	first, err := c.Resolve(ctx, cachedDID)
	if err != nil {
		t.Fatal(err)
	}
	clock.add(time.Minute - time.Nanosecond)
	again, err := c.Resolve(ctx, cachedDID)
	if err != nil || again != first || next.count(cachedDID) != 1 {
		t.Fatalf("within the TTL: %d lookups, same document %v, %v", next.count(cachedDID), again == first, err)
	}
	clock.add(time.Nanosecond)
	if _, err := c.Resolve(ctx, cachedDID); err != nil || next.count(cachedDID) != 2 {
		t.Fatalf("at the TTL: %d lookups (want 2), %v", next.count(cachedDID), err)
	}
	if _, err := c.Resolve(ctx, "did:web:other.example.com"); err != nil || next.count("did:web:other.example.com") != 1 {
		t.Fatal("another DID is looked up on its own")
	}
}

// TestCachedResolverFailures: "unresolvable" answers are kept NegativeTTL (10 s by default)
// so that an unreachable host is not asked on every presentation, never longer; a negative
// NegativeTTL keeps none; other errors are never kept.
func TestCachedResolverFailures(t *testing.T) {
	unresolvable := &identity.RejectError{Reason: identity.ReasonUnresolvableDID, Detail: "HTTP 503"}
	tests := []struct {
		name        string
		negativeTTL time.Duration
		err         error
		kept        time.Duration // 0: not kept
	}{
		{"unresolvable is kept for the negative TTL", 3 * time.Second, unresolvable, 3 * time.Second},
		{"unresolvable is kept 10s by default", 0, unresolvable, 10 * time.Second},
		{"unresolvable is never kept with a negative TTL", -1, unresolvable, 0},
		{"unsupported method is not kept", 3 * time.Second, &identity.RejectError{Reason: identity.ReasonUnsupportedDIDMethod}, 0},
		{"an internal error is not kept", 3 * time.Second, errors.New("boom"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, clock := newFakeResolver(), newFakeClock()
			c := identity.NewCachedResolver(next, identity.CacheConfig{TTL: time.Hour, NegativeTTL: tc.negativeTTL, Now: clock.now})
			ctx := context.Background()
			next.set(tc.err, nil)
			if _, err := c.Resolve(ctx, cachedDID); !errors.Is(err, tc.err) && identity.ReasonOf(err) != identity.ReasonOf(tc.err) {
				t.Fatalf("error %v, want %v", err, tc.err)
			}
			next.set(nil, nil) // the DID resolves again
			if tc.kept > 0 {
				clock.add(tc.kept - time.Nanosecond)
				if _, err := c.Resolve(ctx, cachedDID); err == nil || next.count(cachedDID) != 1 {
					t.Fatalf("within the negative TTL: %d lookups, %v", next.count(cachedDID), err)
				}
				clock.add(time.Nanosecond)
			}
			if doc, err := c.Resolve(ctx, cachedDID); err != nil || doc == nil || next.count(cachedDID) != 2 {
				t.Fatalf("after the failure: %d lookups (want 2), %v", next.count(cachedDID), err)
			}
		})
	}
}

// TestCachedResolverAbandonedLookup: a lookup cut short by its caller's context is neither
// kept nor handed to the callers that shared it.
func TestCachedResolverAbandonedLookup(t *testing.T) {
	next, clock := newFakeResolver(), newFakeClock()
	c := identity.NewCachedResolver(next, identity.CacheConfig{Now: clock.now})
	hold := make(chan struct{})
	next.set(nil, hold)

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() { _, err := c.Resolve(leaderCtx, cachedDID); leader <- err }()
	waitFor(t, func() bool { return next.count(cachedDID) == 1 })

	impatientCtx, cancelImpatient := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancelImpatient()
	if _, err := c.Resolve(impatientCtx, cachedDID); identity.ReasonOf(err) != identity.ReasonUnresolvableDID {
		t.Fatalf("a caller whose context ends while it waits: %v", err)
	}

	waiter := make(chan error, 1)
	go func() { _, err := c.Resolve(context.Background(), cachedDID); waiter <- err }()
	time.Sleep(20 * time.Millisecond) // let it join the leader's lookup
	cancelLeader()
	if err := <-leader; identity.ReasonOf(err) != identity.ReasonUnresolvableDID {
		t.Fatalf("the cancelled caller: %v", err)
	}
	close(hold)
	if err := <-waiter; err != nil {
		t.Fatalf("a caller sharing a cancelled lookup got its failure: %v", err)
	}
	n := next.count(cachedDID)
	if _, err := c.Resolve(context.Background(), cachedDID); err != nil || next.count(cachedDID) != n {
		t.Fatalf("the waiter's own lookup is cached: %d lookups, then %d", n, next.count(cachedDID))
	}
}

func TestCachedResolverSharesConcurrentLookups(t *testing.T) {
	next, clock := newFakeResolver(), newFakeClock()
	c := identity.NewCachedResolver(next, identity.CacheConfig{Now: clock.now})
	hold := make(chan struct{})
	next.set(nil, hold)
	const callers = 32
	docs := make(chan *identity.DIDDocument, callers)
	for range callers {
		go func() {
			doc, err := c.Resolve(context.Background(), cachedDID)
			if err != nil {
				t.Error(err)
			}
			docs <- doc
		}()
	}
	waitFor(t, func() bool { return next.count(cachedDID) == 1 })
	time.Sleep(20 * time.Millisecond) // let every caller arrive
	close(hold)
	var first *identity.DIDDocument
	for range callers {
		doc := <-docs
		if first == nil {
			first = doc
		}
		if doc == nil || doc != first {
			t.Fatal("callers got different answers")
		}
	}
	if n := next.count(cachedDID); n != 1 {
		t.Fatalf("%d lookups for %d concurrent callers, want 1", n, callers)
	}
}

// TestCachedResolverUnderLoad is for the race detector: many callers, DIDs that resolve and
// DIDs that do not, entries expiring and evicted while they run.
func TestCachedResolverUnderLoad(t *testing.T) {
	next, clock := newFakeResolver(), newFakeClock()
	failing := failingFor{next: next}
	c := identity.NewCachedResolver(failing, identity.CacheConfig{TTL: time.Second, NegativeTTL: 100 * time.Millisecond, MaxEntries: 8, Now: clock.now})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				did := fmt.Sprintf("did:web:h%d.example.com", (g+i)%20)
				doc, err := c.Resolve(context.Background(), did)
				if strings.HasSuffix(did, "3.example.com") {
					if identity.ReasonOf(err) != identity.ReasonUnresolvableDID {
						t.Errorf("%s: %v", did, err)
					}
				} else if err != nil || doc.ID != did {
					t.Errorf("%s: %v", did, err)
				}
				clock.add(7 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// failingFor fails for DIDs whose host ends in 3.
type failingFor struct{ next identity.Resolver }

func (f failingFor) Resolve(ctx context.Context, did string) (*identity.DIDDocument, error) {
	if strings.HasSuffix(did, "3.example.com") {
		return nil, &identity.RejectError{Reason: identity.ReasonUnresolvableDID}
	}
	return f.next.Resolve(ctx, did)
}

func TestCachedResolverIsBounded(t *testing.T) {
	const max, dids = 3, 12
	next, clock := newFakeResolver(), newFakeClock()
	c := identity.NewCachedResolver(next, identity.CacheConfig{MaxEntries: max, Now: clock.now})
	did := func(i int) string { return fmt.Sprintf("did:web:h%d.example.com", i) }
	for range 2 {
		for i := range dids {
			if _, err := c.Resolve(context.Background(), did(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	kept := 0
	for i := range dids {
		if next.count(did(i)) == 1 {
			kept++
		}
	}
	if kept > max {
		t.Fatalf("a %d-entry cache kept %d documents", max, kept)
	}
}

// peer2 returns a did:peer:2 of the given elements ("V" + multibase key, "S" + service…).
func peer2(elements ...string) string { return "did:peer:2." + strings.Join(elements, ".") }

func x25519Multibase(t *testing.T) string {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return "z" + base58.Encode(append([]byte{0xec, 0x01}, k.PublicKey().Bytes()...))
}

func TestPeerDIDNumalgo2(t *testing.T) {
	signing := newKey(t)
	auth := strings.TrimPrefix(signing.did(), "did:key:") // z6Mk…, the Ed25519 multikey
	agree := x25519Multibase(t)
	service := "S" + base64.RawURLEncoding.EncodeToString([]byte(`{"t":"dm","s":"https://wallet.example.com/didcomm","r":[],"a":["didcomm/v2"]}`))
	did := peer2("E"+agree, "V"+auth, service)

	doc, err := identity.PeerResolver{}.Resolve(context.Background(), did)
	if err != nil {
		t.Fatal(err)
	}
	if doc.ID != did {
		t.Fatalf("document id %s", doc.ID)
	}
	// Keys are numbered in order, the key agreement key included: the signing key is #key-2.
	for _, id := range []string{did + "#key-2", did + "#" + auth} {
		m, ok := doc.Method(id)
		if !ok {
			t.Fatalf("no method %s in %+v", id, doc.Methods)
		}
		if m.KeyCurve() != identity.CurveEd25519 || string(m.PublicKey) != string(signing.pub) || !m.Authentication || m.AssertionMethod || m.Controller != did {
			t.Fatalf("method %s: %+v", id, m)
		}
	}
	for _, id := range []string{did + "#key-1", did + "#" + agree, did + "#key-3"} {
		if _, ok := doc.Method(id); ok {
			t.Fatalf("%s is a verification method: a key agreement key or a service cannot sign", id)
		}
	}
	if len(doc.Methods) != 2 {
		t.Fatalf("%d methods, want the signing key and its alias", len(doc.Methods))
	}
	assertion, err := identity.PeerResolver{}.Resolve(context.Background(), peer2("A"+auth))
	if err != nil {
		t.Fatal(err)
	}
	if m := assertion.Methods[0]; m.Authentication || !m.AssertionMethod {
		t.Fatalf("an A key is an assertion method only: %+v", m)
	}

	for name, bad := range map[string]string{
		"signing key is an X25519 key":   peer2("V"+agree, service),
		"signing key is not base58":      peer2("Vz0OIl", service),
		"signing key has no multibase":   peer2("V"+auth[1:], service),
		"signing key is truncated":       peer2("V"+auth[:20], service),
		"unknown purpose code":           peer2("Q"+auth, service),
		"empty element":                  "did:peer:2..V" + auth,
		"no elements":                    "did:peer:2",
		"numalgo 3":                      "did:peer:3zQmS19jtYDvGtKVrJhQnRFpBQAx3pJ9omx2HpNrcXFuRCz9",
		"numalgo 0 with an X25519 key":   "did:peer:0" + agree,
		"did:peer:2 URL, not a DID":      did + "#key-2",
		"not a DID":                      "did:peer:",
		"method is not did:peer (cased)": strings.Replace(did, "peer", "Peer", 1),
	} {
		t.Run(name, func(t *testing.T) {
			doc, err := identity.OfflineMethods().Resolve(context.Background(), bad)
			if identity.ReasonOf(err) != identity.ReasonUnresolvableDID || doc != nil {
				t.Fatalf("reason %q (%v), want %q", identity.ReasonOf(err), err, identity.ReasonUnresolvableDID)
			}
		})
	}
}
