package broker

import (
	"context"
	"sync"
)

// LocalEvents delivers events to subscribers in this process only: the single-node default.
// A subscriber that does not keep up loses events rather than blocking the publisher; Watch
// recovers by reading the session, which is the source of truth.
type LocalEvents struct {
	mu   sync.Mutex
	subs map[string]map[chan Event]struct{}
}

var _ Events = (*LocalEvents)(nil)

// NewLocalEvents returns an in-process event bus.
func NewLocalEvents() *LocalEvents {
	return &LocalEvents{subs: map[string]map[chan Event]struct{}{}}
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
