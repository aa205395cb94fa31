package broker

import (
	"context"
	"sync"
	"time"
)

// identityChanges is the name on the event bus under which replicas tell each other that an
// identity changed or was erased (Event.Reason is its ID). Session IDs are ULIDs, so it cannot
// be a session's.
const identityChanges = "_identity_changes"

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

// watchIdentityChanges drops the identities other replicas report as changed, until ctx ends.
// When the event bus closes the subscription (it may have missed notices), the whole cache is
// dropped and the watch starts again.
func (s *Service) watchIdentityChanges(ctx context.Context) {
	for ctx.Err() == nil {
		events, cancel, err := s.deps.Events.Subscribe(ctx, identityChanges)
		if err != nil {
			s.log.Warn("identity changes not followed; the identity cache is off until they are", "err", err)
			s.idCache.reset(false)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		s.idCache.reset(true) // whatever happened before this subscription is not known
		s.followIdentityChanges(ctx, events)
		s.idCache.reset(false)
		cancel()
	}
}

func (s *Service) followIdentityChanges(ctx context.Context, events <-chan Event) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			s.idCache.drop(ev.Reason)
		}
	}
}

// readIdentity answers from the identity cache if it can (cached), else from the store (read),
// caching what the store returned unless the identity changed meanwhile.
func (s *Service) readIdentity(cached func(*identityCache) (*Identity, bool), read func() (*Identity, error)) (*Identity, error) {
	if s.idCache == nil {
		return read()
	}
	if ident, ok := cached(s.idCache); ok {
		return ident, nil
	}
	gen := s.idCache.generation()
	ident, err := read()
	if err == nil {
		s.idCache.put(ident, gen)
	}
	return ident, err
}

// identityChanged drops identity id from this replica's cache and tells the others.
func (s *Service) identityChanged(ctx context.Context, id string) {
	if s.idCache == nil || id == "" {
		return
	}
	s.idCache.drop(id)
	if err := s.deps.Events.Publish(ctx, Event{SessionID: identityChanges, Reason: id, At: s.now()}); err != nil {
		s.log.Warn("identity change not announced to other replicas; their caches expire it", "identity_id", id, "err", err)
	}
}
