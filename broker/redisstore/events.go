package redisstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
)

// EventsOptions tune NewEvents. The zero value is ready to use.
type EventsOptions struct {
	// Buffer is each subscriber's channel capacity; default 16 (as broker.LocalEvents).
	Buffer int
	// HealthCheck is how often the subscription connection is pinged when no message arrives,
	// to notice a dead connection; default 3 s.
	HealthCheck time.Duration
}

// Events is broker.Events across replicas: Redis pub/sub on one channel per deployment,
// "prefix:events", to which every replica subscribes once. An event published on one replica
// reaches the subscribers of its session on every replica (on the publishing replica directly,
// without a round trip through Redis, and not a second time when Redis echoes it back).
//
// Like broker.LocalEvents, a subscriber that does not keep up loses events rather than blocking
// the publisher (the broker's Watch recovers by reading the session). Pub/sub delivers at most
// once: events published while this replica's subscription is down are lost. go-redis
// reconnects and resubscribes by itself; when it does, Events closes the channel of every
// subscriber of this replica, since they may have missed events: the broker's Watch ends on a
// closed channel, and its client (a browser's EventSource) reconnects and starts again from
// the session's current state.
//
// Identity changes (broker.IdentityChanges) travel the same way, on the same channel, as
// messages of their own kind: "identity-changed " and the identity's ID where an event's JSON
// would be, so that one subscription carries both. A resubscription closes the identity
// change watchers too.
//
// Events is safe for concurrent use.
type Events struct {
	client  redis.UniversalClient
	channel string
	origin  []byte // this instance's ID: the first line of every message it publishes
	log     *slog.Logger
	buffer  int
	ps      *redis.PubSub

	mu      sync.Mutex
	subs    map[string]map[*subscriber]struct{}
	changes map[*changeWatcher]struct{}
	closed  bool

	ready     chan struct{} // closed once the first subscription is confirmed
	readyOnce sync.Once
	done      chan struct{} // closed when the receive loop ends
}

var (
	_ broker.Events          = (*Events)(nil)
	_ broker.IdentityChanges = (*Events)(nil)
)

type subscriber struct {
	ch     chan broker.Event
	closed bool // ch is closed (resubscription or Events.Close); guarded by Events.mu
}

type changeWatcher struct {
	ch     chan string
	closed bool // as subscriber.closed
}

// NewEvents subscribes to the deployment's event channel on store's Redis and returns the event
// bus. The subscription is made in the background (go-redis retries until Redis answers); Ready
// waits for it. Close the Events before the store.
func NewEvents(store *Store, opts EventsOptions) *Events {
	origin := make([]byte, 8)
	_, _ = rand.Read(origin)
	e := &Events{
		client:  store.client,
		channel: store.keys.prefix + ":events",
		origin:  []byte(hex.EncodeToString(origin)),
		log:     store.log,
		buffer:  opts.Buffer,
		subs:    map[string]map[*subscriber]struct{}{},
		changes: map[*changeWatcher]struct{}{},
		ready:   make(chan struct{}),
		done:    make(chan struct{}),
	}
	if e.buffer <= 0 {
		e.buffer = 16
	}
	check := opts.HealthCheck
	if check <= 0 {
		check = 3 * time.Second
	}
	// go-redis records the channel even when this first SUBSCRIBE fails, and subscribes again
	// from the receive loop, so NewEvents never waits long for a Redis that is down.
	e.ps = e.client.Subscribe(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if err := e.ps.Subscribe(ctx, e.channel); err != nil {
		e.log.Warn("event bus: subscribe failed; retrying in the background", "channel", e.channel, "err", err)
	}
	cancel()
	go e.receive(e.ps.ChannelWithSubscriptions(redis.WithChannelHealthCheckInterval(check),
		redis.WithChannelSendTimeout(time.Second)))
	return e
}

// Ready waits until the subscription to Redis is confirmed (or ctx ends): from then on, events
// published by any replica reach this one's subscribers.
func (e *Events) Ready(ctx context.Context) error {
	select {
	case <-e.ready:
		return nil
	case <-e.done:
		return errors.New("redisstore: events: closed")
	case <-ctx.Done():
		return fmt.Errorf("redisstore: events: waiting for the subscription: %w", ctx.Err())
	}
}

// Close ends the subscription and closes every subscriber's channel. It is idempotent.
func (e *Events) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.dropAllLocked()
	e.dropChangesLocked()
	e.mu.Unlock()
	err := e.ps.Close()
	<-e.done
	if err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redisstore: events: close: %w", err)
	}
	return nil
}

// Publish delivers ev to this replica's subscribers of the session, then publishes it to the
// other replicas. If Redis cannot be reached the local subscribers still get the event, and the
// error matches broker.ErrUnavailable.
func (e *Events) Publish(ctx context.Context, ev broker.Event) error {
	e.deliver(ev)
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("redisstore: events: encode: %w", err)
	}
	msg := make([]byte, 0, len(e.origin)+1+len(body))
	msg = append(append(append(msg, e.origin...), '\n'), body...)
	if err := e.client.Publish(ctx, e.channel, msg).Err(); err != nil {
		err = classifyErr(err)
		return fmt.Errorf("redisstore: events: publish: %w", err)
	}
	return nil
}

// Subscribe returns the session's events from now on, until cancel is called (see Events for
// when the channel is closed instead).
func (e *Events) Subscribe(_ context.Context, sessionID string) (<-chan broker.Event, func(), error) {
	sub := &subscriber{ch: make(chan broker.Event, e.buffer)}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, nil, errors.New("redisstore: events: closed")
	}
	if e.subs[sessionID] == nil {
		e.subs[sessionID] = map[*subscriber]struct{}{}
	}
	e.subs[sessionID][sub] = struct{}{}
	e.mu.Unlock()
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if set := e.subs[sessionID]; set != nil {
				delete(set, sub)
				if len(set) == 0 {
					delete(e.subs, sessionID)
				}
			}
		})
	}
	return sub.ch, cancel, nil
}

// AnnounceIdentityChange tells this replica's identity change watchers, then the other
// replicas', that identity id changed. If Redis cannot be reached the error matches
// broker.ErrUnavailable.
func (e *Events) AnnounceIdentityChange(ctx context.Context, id string) error {
	e.deliverChange(id)
	msg := append(append(append(append([]byte{}, e.origin...), '\n'), identityChanged...), id...)
	if err := e.client.Publish(ctx, e.channel, msg).Err(); err != nil {
		return fmt.Errorf("redisstore: events: announce identity change: %w", classifyErr(err))
	}
	return nil
}

// identityChanged starts the body of an identity change message (an event's starts with '{').
const identityChanged = "identity-changed "

// IdentityChanges returns the IDs of identities changed from now on, on any replica, until
// cancel is called (or the channel is closed after a resubscription).
func (e *Events) IdentityChanges(context.Context) (<-chan string, func(), error) {
	w := &changeWatcher{ch: make(chan string, e.buffer)}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, nil, errors.New("redisstore: events: closed")
	}
	e.changes[w] = struct{}{}
	e.mu.Unlock()
	var once sync.Once
	return w.ch, func() {
		once.Do(func() {
			e.mu.Lock()
			delete(e.changes, w)
			e.mu.Unlock()
		})
	}, nil
}

func (e *Events) deliverChange(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for w := range e.changes {
		if w.closed {
			continue
		}
		select {
		case w.ch <- id:
		default: // a slow watcher loses the notice; its cache's TTL bounds the staleness
		}
	}
}

// dropChangesLocked closes every identity change watcher's channel and forgets them.
func (e *Events) dropChangesLocked() {
	for w := range e.changes {
		if !w.closed {
			w.closed = true
			close(w.ch)
		}
	}
	clear(e.changes)
}

// deliver hands ev to the session's subscribers on this replica, dropping it for those whose
// buffer is full.
func (e *Events) deliver(ev broker.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for sub := range e.subs[ev.SessionID] {
		if sub.closed {
			continue
		}
		select {
		case sub.ch <- ev:
		default: // slow subscriber: drop, never block
		}
	}
}

// dropAllLocked closes every subscriber's channel and forgets them.
func (e *Events) dropAllLocked() {
	for _, set := range e.subs {
		for sub := range set {
			if !sub.closed {
				sub.closed = true
				close(sub.ch)
			}
		}
	}
	clear(e.subs)
}

// receive reads the subscription until it is closed.
func (e *Events) receive(in <-chan any) {
	defer close(e.done)
	subscribed := false
	for msg := range in {
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" || m.Channel != e.channel {
				continue
			}
			if subscribed {
				// go-redis lost the connection and subscribed again: messages may have been
				// missed, so make every watcher start again from the stored state.
				e.log.Warn("event bus: resubscribed after a lost connection; restarting this replica's watchers", "channel", e.channel)
				e.mu.Lock()
				e.dropAllLocked()
				e.dropChangesLocked()
				e.mu.Unlock()
			}
			subscribed = true
			e.readyOnce.Do(func() { close(e.ready) })
		case *redis.Message:
			origin, body, ok := bytes.Cut([]byte(m.Payload), []byte{'\n'})
			if !ok {
				e.log.Warn("event bus: malformed message", "channel", m.Channel)
				continue
			}
			if bytes.Equal(origin, e.origin) {
				continue // published here, delivered by Publish already
			}
			if id, ok := bytes.CutPrefix(body, []byte(identityChanged)); ok {
				e.deliverChange(string(id))
				continue
			}
			var ev broker.Event
			if err := json.Unmarshal(body, &ev); err != nil {
				e.log.Warn("event bus: malformed event", "channel", m.Channel, "err", err)
				continue
			}
			e.deliver(ev)
		}
	}
}

// classifyErr is Store.classify for code that has no Store at hand.
func classifyErr(err error) error {
	if unavailable(err) {
		return fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
	}
	return err
}
