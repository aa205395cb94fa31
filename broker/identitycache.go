package broker

import (
	"context"
	"sync"
	"time"
)

// IdentityChanges carries notices that an identity changed or was erased between replicas,
// so that each drops it from its identity cache (LocalEvents in one process, redisstore's
// Events across replicas). Implementations are safe for concurrent use.
type IdentityChanges interface {
	// AnnounceIdentityChange tells every replica's watchers that identity id changed.
	AnnounceIdentityChange(ctx context.Context, id string) error
	// IdentityChanges returns the IDs of identities changed from now on, until cancel is
	// called. The channel is closed when notices may have been lost (the bus reconnected);
	// the watcher then starts again.
	IdentityChanges(ctx context.Context) (ids <-chan string, cancel func(), err error)
}

// maxCachedIdentities bounds the identity cache's memory.
const maxCachedIdentities = 10000

// identityCache keeps identities read for the CRM for a short while, so that a CRM panel
// reading the same identities again and again does not cost a store round trip each time.
//
// An identity leaves the cache when it changes or is erased: at once on the replica that made
// the change, and on the others as soon as the change reaches them over the event bus. The TTL
// bounds how long a replica that missed that notice (its event bus reconnecting, or dropping
// under load) can serve the old identity.
//
// A read that started before a change may finish after it; the generation counter keeps such
// a read out of the cache: any invalidation since the read began makes put a no-op.
type identityCache struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	active bool // changes are being followed; until then (and while not) nothing is cached
	gen    uint64
	byID   map[string]cachedIdentity
	flex   map[string]string // FlexIdentity → ID, for every entry of byID
}

type cachedIdentity struct {
	ident *Identity
	until time.Time
}

func newIdentityCache(ttl time.Duration, now func() time.Time) *identityCache {
	return &identityCache{ttl: ttl, now: now, byID: map[string]cachedIdentity{}, flex: map[string]string{}}
}

// generation is read before the store is, and handed to put with what the store returned.
func (c *identityCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *identityCache) get(id string) (*Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if !c.active || !ok || !c.now().Before(e.until) {
		return nil, false
	}
	return cloneIdentity(e.ident), true
}

func (c *identityCache) getByFlex(flexIdentity string) (*Identity, bool) {
	c.mu.Lock()
	id, ok := c.flex[flexIdentity]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return c.get(id)
}

// put caches ident, unless an invalidation happened since generation gen was read.
func (c *identityCache) put(ident *Identity, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.active {
		return
	}
	now := c.now()
	if len(c.byID) >= maxCachedIdentities {
		for id, e := range c.byID {
			if !now.Before(e.until) {
				c.deleteLocked(id)
			}
		}
		if len(c.byID) >= maxCachedIdentities {
			clear(c.byID)
			clear(c.flex)
		}
	}
	c.deleteLocked(ident.ID) // its pseudonym cannot change, but do not trust that here
	c.byID[ident.ID] = cachedIdentity{ident: cloneIdentity(ident), until: now.Add(c.ttl)}
	c.flex[ident.FlexIdentity] = ident.ID
}

// drop forgets identity id (changed or erased).
func (c *identityCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.deleteLocked(id)
}

// reset forgets everything (invalidations may have been missed), and says whether changes
// are followed from now on.
func (c *identityCache) reset(active bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.active = active
	c.gen++
	clear(c.byID)
	clear(c.flex)
}

func (c *identityCache) deleteLocked(id string) {
	if e, ok := c.byID[id]; ok {
		if c.flex[e.ident.FlexIdentity] == id {
			delete(c.flex, e.ident.FlexIdentity)
		}
		delete(c.byID, id)
	}
}

// cloneIdentity copies an identity deeply enough that neither the cache nor its callers can
// change the other's copy: the record and its claims map (claim values are JSON values decoded
// from the store and never modified in place).
func cloneIdentity(in *Identity) *Identity {
	out := *in
	if in.Claims != nil {
		out.Claims = make(map[string]any, len(in.Claims))
		for k, v := range in.Claims {
			out.Claims[k] = v
		}
	}
	return &out
}

// cachingStore is the store with the identity cache in front of its identity reads. Its
// writes of identities (a verification, an erasure) drop the identity from this replica's
// cache; an erasure is announced to the other replicas here, a verification by
// Service.transition after the session's event; watch follows the others' notices.
type cachingStore struct {
	Store
	cache   *identityCache
	changes IdentityChanges
	log     interface{ Warn(string, ...any) }
}

func (c *cachingStore) Identity(ctx context.Context, id string) (*Identity, error) {
	return c.read(func() (*Identity, bool) { return c.cache.get(id) },
		func() (*Identity, error) { return c.Store.Identity(ctx, id) })
}

func (c *cachingStore) IdentityByFlex(ctx context.Context, flexIdentity string) (*Identity, error) {
	return c.read(func() (*Identity, bool) { return c.cache.getByFlex(flexIdentity) },
		func() (*Identity, error) { return c.Store.IdentityByFlex(ctx, flexIdentity) })
}

// read answers from the cache if it can (cached), else from the store (read), caching what
// the store returned unless the identity changed meanwhile.
func (c *cachingStore) read(cached func() (*Identity, bool), read func() (*Identity, error)) (*Identity, error) {
	if ident, ok := cached(); ok {
		return ident, nil
	}
	gen := c.cache.generation()
	ident, err := read()
	if err == nil {
		c.cache.put(ident, gen)
	}
	return ident, err
}

func (c *cachingStore) Transition(ctx context.Context, id string, t Transition, now time.Time) (*Session, error) {
	sess, err := c.Store.Transition(ctx, id, t, now)
	if t.Identity != nil && err == nil {
		// A returning customer's identity was updated: this replica forgets it now; the
		// others hear of it from Service.transition, once the session's event is out (see
		// there).
		c.cache.drop(t.Identity.ID)
	}
	return sess, err
}

func (c *cachingStore) DeleteIdentity(ctx context.Context, id string, notify ...Delivery) error {
	err := c.Store.DeleteIdentity(ctx, id, notify...)
	// Even after an error: it may have been erased all the same (a reply lost in a timeout).
	c.changed(ctx, id)
	return err
}

// changed drops identity id from this replica's cache and tells the others.
func (c *cachingStore) changed(ctx context.Context, id string) {
	c.cache.drop(id)
	if err := c.changes.AnnounceIdentityChange(ctx, id); err != nil {
		c.log.Warn("identity change not announced to other replicas; their caches expire it", "identity_id", id, "err", err)
	}
}

// watch drops the identities other replicas report as changed, until ctx ends. When the bus
// closes the subscription (it may have missed notices), the whole cache is dropped and the
// watch starts again; until a watch runs, nothing is cached.
func (c *cachingStore) watch(ctx context.Context) {
	for ctx.Err() == nil {
		ids, cancel, err := c.changes.IdentityChanges(ctx)
		if err != nil {
			c.log.Warn("identity changes not followed; the identity cache is off until they are", "err", err)
			c.cache.reset(false)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		c.cache.reset(true) // whatever happened before this subscription is not known
		c.follow(ctx, ids)
		c.cache.reset(false)
		cancel()
	}
}

func (c *cachingStore) follow(ctx context.Context, ids <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case id, ok := <-ids:
			if !ok {
				return
			}
			c.cache.drop(id)
		}
	}
}
