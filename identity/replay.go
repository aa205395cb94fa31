package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// ReplayGuard remembers which challenges (session nonces) have been answered, so that a
// presentation is accepted once, by whichever replica receives it. Implementations are safe
// for concurrent use; a multi-replica deployment gives every replica one shared guard (for
// example Redis SET NX with an expiry, in the broker's store).
type ReplayGuard interface {
	// Use marks key used until the given time. It reports false if key was already in use:
	// only one caller ever gets true for a key. Keys are opaque strings of at most 64 bytes.
	Use(ctx context.Context, key string, until time.Time) (fresh bool, err error)
}

// MemoryReplayGuard is a ReplayGuard for a single process. It is safe for concurrent use.
type MemoryReplayGuard struct {
	now func() time.Time

	mu    sync.Mutex
	used  map[string]time.Time
	sweep time.Time
}

var _ ReplayGuard = (*MemoryReplayGuard)(nil)

// NewMemoryReplayGuard returns an in-memory guard using clock now (nil: time.Now).
func NewMemoryReplayGuard(now func() time.Time) *MemoryReplayGuard {
	if now == nil {
		now = time.Now
	}
	return &MemoryReplayGuard{now: now, used: map[string]time.Time{}}
}

// Use implements ReplayGuard.
func (g *MemoryReplayGuard) Use(_ context.Context, key string, until time.Time) (bool, error) {
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if now.After(g.sweep) {
		for k, exp := range g.used {
			if now.After(exp) {
				delete(g.used, k)
			}
		}
		g.sweep = now.Add(time.Minute)
	}
	if exp, ok := g.used[key]; ok && !now.After(exp) {
		return false, nil
	}
	g.used[key] = until
	return true, nil
}

// ReplayKey is the key a Verifier gives its ReplayGuard for a challenge and domain: a SHA-256
// digest, so guards never store raw nonces.
func ReplayKey(domain, challenge string) string {
	h := sha256.Sum256([]byte(domain + "\x00" + challenge))
	return hex.EncodeToString(h[:])
}
