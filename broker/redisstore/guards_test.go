package redisstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

func TestReplayGuardAcrossReplicas(t *testing.T) {
	a, b := twoReplicas(t)
	guards := []*redisstore.ReplayGuard{redisstore.NewReplayGuard(a), redisstore.NewReplayGuard(b)}
	var fresh atomic.Int32
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := guards[i%2].Use(context.Background(), "challenge-1", time.Now().Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				fresh.Add(1)
			}
		}()
	}
	wg.Wait()
	if fresh.Load() != 1 {
		t.Fatalf("%d callers got the challenge, want exactly 1", fresh.Load())
	}
	if ok, _ := guards[0].Use(context.Background(), "challenge-2", time.Now().Add(50*time.Millisecond)); !ok {
		t.Fatal("a new challenge was refused")
	}
	time.Sleep(150 * time.Millisecond)
	if ok, _ := guards[1].Use(context.Background(), "challenge-2", time.Now().Add(time.Minute)); !ok {
		t.Fatal("a challenge past its window is still remembered")
	}
}

func TestLimiterIsShared(t *testing.T) {
	a, b := twoReplicas(t)
	limiters := []*redisstore.Limiter{redisstore.NewLimiter(a, 1, 3), redisstore.NewLimiter(b, 1, 3)}
	var allowed []bool
	for i := range 5 {
		ok, retry, err := limiters[i%2].Allow(context.Background(), "ip:192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if !ok && retry < time.Second {
			t.Errorf("retry after %s", retry)
		}
		allowed = append(allowed, ok)
	}
	if want := []bool{true, true, true, false, false}; !equal(allowed, want) {
		t.Fatalf("allowed %v, want %v (one budget across replicas)", allowed, want)
	}
	if ok, _, _ := limiters[0].Allow(context.Background(), "ip:192.0.2.2"); !ok {
		t.Fatal("another key shares the budget")
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// twoReplicas opens two stores (two clients, as two replicas would) on one private server.
func twoReplicas(t *testing.T) (*redisstore.Store, *redisstore.Store) {
	t.Helper()
	replicas := openReplicas(t, redistest.Server(t).URL(), 2)
	return replicas[0], replicas[1]
}

// A released key is taken again, by any replica, and only once.
func TestReplayGuardRelease(t *testing.T) {
	a, b := twoReplicas(t)
	ga, gb := redisstore.NewReplayGuard(a), redisstore.NewReplayGuard(b)
	ctx := context.Background()
	until := time.Now().Add(time.Minute)
	if ok, err := ga.Use(ctx, "delivery-1", until); err != nil || !ok {
		t.Fatalf("first use: %v, %v", ok, err)
	}
	if err := ga.Release(ctx, "delivery-1"); err != nil {
		t.Fatal(err)
	}
	if ok, err := gb.Use(ctx, "delivery-1", until); err != nil || !ok {
		t.Fatalf("after release, on the other replica: %v, %v; want taken", ok, err)
	}
	if ok, err := ga.Use(ctx, "delivery-1", until); err != nil || ok {
		t.Fatalf("again: %v, %v; want refused", ok, err)
	}
}
