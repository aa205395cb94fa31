package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// CacheConfig tunes a Cache. Zero values take the defaults.
type CacheConfig struct {
	// ImmutableTTL is how long schemas, credential definitions and revocation registry
	// definitions are kept (default 24h). Ledgers never change them; the TTL only bounds
	// how long a pinned-file or resolver mistake outlives its fix.
	ImmutableTTL time.Duration
	// StatusTTL is how long a revocation status list is kept (default 1m): it bounds how
	// late the service learns of a revocation.
	StatusTTL time.Duration
	// NegativeTTL is how long ErrNotFound is kept (default 30s; negative: not at all).
	// Other errors are never kept.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache (default 10,000).
	MaxEntries int
	// FetchTimeout bounds one shared lookup (default 30s). A lookup is shared by every
	// caller asking for the same thing meanwhile, so it runs detached from the first
	// caller's cancellation; each caller still stops waiting when its own context ends.
	FetchTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Cache remembers what another Registry returned, and makes concurrent lookups of one
// object share one request. It is safe for concurrent use; the objects it returns are
// shared between callers and must not be modified.
type Cache struct {
	next  Registry
	cfg   CacheConfig
	group singleflight.Group

	mu      sync.Mutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	v       any
	err     error
	expires time.Time
}

var _ Registry = (*Cache)(nil)

// NewCache wraps next.
func NewCache(next Registry, cfg CacheConfig) *Cache {
	if cfg.ImmutableTTL <= 0 {
		cfg.ImmutableTTL = 24 * time.Hour
	}
	if cfg.StatusTTL <= 0 {
		cfg.StatusTTL = time.Minute
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = 30 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.FetchTimeout <= 0 {
		cfg.FetchTimeout = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Cache{next: next, cfg: cfg, entries: map[string]cacheEntry{}}
}

func cached[T any](ctx context.Context, c *Cache, key, id string, ttl time.Duration, fetch func(context.Context) (*T, error)) (*T, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && c.cfg.Now().Before(e.expires) {
		if e.err != nil {
			return nil, e.err
		}
		return e.v.(*T), nil
	}
	ch := c.group.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
		defer cancel()
		v, err := fetch(fctx)
		switch {
		case err == nil:
			c.store(key, cacheEntry{v: v, expires: c.cfg.Now().Add(ttl)})
		case errors.Is(err, ErrNotFound) && c.cfg.NegativeTTL > 0:
			c.store(key, cacheEntry{err: err, expires: c.cfg.Now().Add(c.cfg.NegativeTTL)})
		}
		return v, err
	})
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("registry: %q: %w: %w", clip(id), ErrUnavailable, ctx.Err())
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*T), nil
	}
}

func (c *Cache) store(key string, e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.cfg.MaxEntries {
		now := c.cfg.Now()
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		// Still full: drop arbitrary entries (map order), a sixteenth of the cache.
		for k := range c.entries {
			if len(c.entries) < c.cfg.MaxEntries-c.cfg.MaxEntries/16 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = e
}

// Schema returns the schema, from the cache or the next registry.
func (c *Cache) Schema(ctx context.Context, id string) (*anoncreds.Schema, error) {
	return cached(ctx, c, "schema\x00"+id, id, c.cfg.ImmutableTTL, func(ctx context.Context) (*anoncreds.Schema, error) {
		return c.next.Schema(ctx, id)
	})
}

// CredentialDefinition returns the credential definition, from the cache or the next
// registry.
func (c *Cache) CredentialDefinition(ctx context.Context, id string) (*anoncreds.CredentialDefinition, error) {
	return cached(ctx, c, "creddef\x00"+id, id, c.cfg.ImmutableTTL, func(ctx context.Context) (*anoncreds.CredentialDefinition, error) {
		return c.next.CredentialDefinition(ctx, id)
	})
}

// RevocationRegistryDefinition returns the revocation registry definition, from the cache
// or the next registry.
func (c *Cache) RevocationRegistryDefinition(ctx context.Context, id string) (*RevocationRegistryDefinition, error) {
	return cached(ctx, c, "revreg\x00"+id, id, c.cfg.ImmutableTTL, func(ctx context.Context) (*RevocationRegistryDefinition, error) {
		return c.next.RevocationRegistryDefinition(ctx, id)
	})
}

// RevocationStatusList returns the status list, from the cache (for StatusTTL) or the
// next registry.
func (c *Cache) RevocationStatusList(ctx context.Context, revRegDefID string, timestamp int64) (*RevocationStatusList, error) {
	key := "status\x00" + revRegDefID + "\x00" + strconv.FormatInt(timestamp, 10)
	return cached(ctx, c, key, revRegDefID, c.cfg.StatusTTL, func(ctx context.Context) (*RevocationStatusList, error) {
		return c.next.RevocationStatusList(ctx, revRegDefID, timestamp)
	})
}
