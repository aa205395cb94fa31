package broker

import (
	"context"
	"sync"
)

// LocalEvents delivers events to subscribers in this process only: the single-node default.
// A subscriber that does not keep up loses events rather than blocking the publisher; Watch
// recovers by reading the session, which is the source of truth.
type LocalEvents struct {
	mu      sync.Mutex
	subs    map[string]map[chan Event]struct{}
	changes map[chan string]struct{} // identity change watchers
}

var (
	_ Events          = (*LocalEvents)(nil)
	_ IdentityChanges = (*LocalEvents)(nil)
)

// NewLocalEvents returns an in-process event bus.
func NewLocalEvents() *LocalEvents {
	return &LocalEvents{subs: map[string]map[chan Event]struct{}{}, changes: map[chan string]struct{}{}}
}

// Publish delivers ev to the session's current subscribers.
func (b *LocalEvents) Publish(_ context.Context, ev Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[ev.SessionID] {
		select {
		case ch <- ev:
		default: // slow subscriber: drop, never block a session transition
		}
	}
	return nil
}

// Subscribe returns the session's events from now on.
func (b *LocalEvents) Subscribe(_ context.Context, sessionID string) (<-chan Event, func(), error) {
	ch := make(chan Event, 16)
	b.mu.Lock()
	if b.subs[sessionID] == nil {
		b.subs[sessionID] = map[chan Event]struct{}{}
	}
	b.subs[sessionID][ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs[sessionID], ch)
			if len(b.subs[sessionID]) == 0 {
				delete(b.subs, sessionID)
			}
			b.mu.Unlock()
		})
	}
	return ch, cancel, nil
}

// AnnounceIdentityChange tells this process's identity change watchers that id changed. A
// watcher that does not keep up loses the notice; its cache entries still end with their TTL.
func (b *LocalEvents) AnnounceIdentityChange(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.changes {
		select {
		case ch <- id:
		default:
		}
	}
	return nil
}

// IdentityChanges returns the IDs of identities changed from now on.
func (b *LocalEvents) IdentityChanges(context.Context) (<-chan string, func(), error) {
	ch := make(chan string, 16)
	b.mu.Lock()
	b.changes[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.changes, ch)
			b.mu.Unlock()
		})
	}, nil
}
