package registry

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

// Concurrent lookups of one id make one request, and all get the same object.
func TestCacheSingleflight(t *testing.T) {
	f, _ := ledgerWithVectors(t)
	f.gate = make(chan struct{})
	c := NewCache(newProxy(t, f.serve(t), HTTPOptions{}), CacheConfig{})
	const n = 32
	var (
		wg   sync.WaitGroup
		got  [n]*anoncreds.CredentialDefinition
		errs [n]error
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = c.CredentialDefinition(context.Background(), sovCredDefID)
		}()
	}
	for f.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others join the lookup in flight
	close(f.gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || got[i] != got[0] {
			t.Fatalf("caller %d: %p, %v; caller 0: %p", i, got[i], errs[i], got[0])
		}
	}
	if r := f.requests.Load(); r != 1 {
		t.Fatalf("%d requests, want 1", r)
	}
	if _, err := c.CredentialDefinition(context.Background(), sovCredDefID); err != nil || f.requests.Load() != 1 {
		t.Fatalf("a later lookup: %v, %d requests", err, f.requests.Load())
	}
}

// Definitions are kept for ImmutableTTL, status lists for StatusTTL, "not found" for
// NegativeTTL, and other errors not at all.
func TestCacheTTLs(t *testing.T) {
	f, rr := ledgerWithVectors(t)
	clock := newClock()
	c := NewCache(newProxy(t, f.serve(t), HTTPOptions{}), CacheConfig{
		ImmutableTTL: 24 * time.Hour, StatusTTL: time.Minute, NegativeTTL: 30 * time.Second, Now: clock.now})
	ctx := context.Background()
	absent := nym + ":2:absent:1.0"
	lookup := func() {
		t.Helper()
		if _, err := c.Schema(ctx, sovSchemaID); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RevocationStatusList(ctx, rr, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Schema(ctx, absent); !errors.Is(err, ErrNotFound) {
			t.Fatalf("absent schema: %v", err)
		}
	}
	counts := func() [3]int64 {
		return [3]int64{f.count("/schema/" + sovSchemaID), f.count("/rev_reg_delta/" + rr), f.count("/schema/" + absent)}
	}
	lookup()
	lookup()
	if got := counts(); got != [3]int64{1, 1, 1} {
		t.Fatalf("after two rounds: %v requests", got)
	}
	clock.advance(45 * time.Second)
	lookup()
	if got := counts(); got != [3]int64{1, 1, 2} {
		t.Fatalf("after 45s: %v requests; want the negative entry expired", got)
	}
	clock.advance(time.Hour)
	lookup()
	if got := counts(); got != [3]int64{1, 2, 3} {
		t.Fatalf("after 1h: %v requests; want the status list refetched, the schema kept", got)
	}
	clock.advance(24 * time.Hour)
	lookup()
	if got := counts(); got != [3]int64{2, 3, 4} {
		t.Fatalf("after 25h: %v requests", got)
	}

	// An unavailable source is asked again at once.
	f.mu.Lock()
	f.inject["/cred_def/"+sovCredDefID] = fakeResponse{503, nil}
	f.mu.Unlock()
	if _, err := c.CredentialDefinition(ctx, sovCredDefID); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%v, want ErrUnavailable", err)
	}
	f.mu.Lock()
	delete(f.inject, "/cred_def/"+sovCredDefID)
	f.mu.Unlock()
	if _, err := c.CredentialDefinition(ctx, sovCredDefID); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
}

// A caller whose context ends stops waiting; the lookup it started goes on for the others
// and is cached.
func TestCacheCallerCancels(t *testing.T) {
	f, _ := ledgerWithVectors(t)
	f.gate = make(chan struct{})
	c := NewCache(newProxy(t, f.serve(t), HTTPOptions{}), CacheConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := c.Schema(ctx, sovSchemaID)
		first <- err
	}()
	for f.requests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		_, err := c.Schema(context.Background(), sovSchemaID)
		second <- err
	}()
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(f.gate)
	if err := <-second; err != nil {
		t.Fatalf("other caller: %v", err)
	}
	if _, err := c.Schema(context.Background(), sovSchemaID); err != nil || f.requests.Load() != 1 {
		t.Fatalf("later: %v after %d requests", err, f.requests.Load())
	}
}

func TestCacheBounded(t *testing.T) {
	f, _ := ledgerWithVectors(t)
	c := NewCache(newProxy(t, f.serve(t), HTTPOptions{}), CacheConfig{MaxEntries: 16})
	for i := range 100 {
		_, _ = c.Schema(context.Background(), nym+":2:absent:"+itoa(int64(i)))
	}
	c.mu.Lock()
	n := len(c.entries)
	c.mu.Unlock()
	if n > 16 {
		t.Fatalf("%d entries, want at most 16", n)
	}
}
