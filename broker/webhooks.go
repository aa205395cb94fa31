package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Webhook event types sent to the CRM. Their names and payloads are part of the public API.
const (
	EventIdentityVerified = "identity.verified"
	EventSessionBound     = "session.bound"
	EventSessionRejected  = "session.rejected"
	EventSessionExpired   = "session.expired"
	EventSessionClosed    = "session.closed"
	EventIdentityErased   = "identity.erased"
)

// WebhookEvent is what a CRM endpoint receives (as the payload of a signed JWS).
type WebhookEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      any       `json:"data"`
}

// WebhookSender sends one delivery. An error is a failed attempt; retryAfter, if positive, is
// when the receiver asked to be tried again.
type WebhookSender interface {
	Send(ctx context.Context, d Delivery) (retryAfter time.Duration, err error)
}

// WebhookConfig configures CRM webhooks.
type WebhookConfig struct {
	// Endpoints receive every event; none: no webhooks.
	Endpoints []string
	// MaxAttempts before a delivery becomes a dead letter; default 12 (about a day of
	// backoff).
	MaxAttempts int
	// FirstRetry and MaxRetry bound the exponential backoff; defaults 2 s and 2 h.
	FirstRetry, MaxRetry time.Duration
	// Lease is how long a sender owns a delivery; default 1 minute.
	Lease time.Duration
	// Poll is how often the queue is looked at when idle; default 1 s.
	Poll time.Duration
}

func (c *WebhookConfig) defaults() {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 12
	}
	if c.FirstRetry <= 0 {
		c.FirstRetry = 2 * time.Second
	}
	if c.MaxRetry <= 0 {
		c.MaxRetry = 2 * time.Hour
	}
	if c.Lease <= 0 {
		c.Lease = time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
}

// deliveries returns one delivery per endpoint for an event; subject is the identity it is
// about, if any, so that erasing the identity removes the deliveries that still carry it.
func (s *Service) deliveries(eventType, subject string, data any) []Delivery {
	if len(s.cfg.Webhooks.Endpoints) == 0 {
		return nil
	}
	now := s.now()
	ev := WebhookEvent{ID: s.ids.next(now), Type: eventType, CreatedAt: now, Data: data}
	payload, err := json.Marshal(ev)
	if err != nil {
		s.log.Error("webhook event not encoded", "type", eventType, "err", err)
		return nil
	}
	out := make([]Delivery, 0, len(s.cfg.Webhooks.Endpoints))
	for _, ep := range s.cfg.Webhooks.Endpoints {
		out = append(out, Delivery{ID: s.ids.next(now), EventID: ev.ID, Endpoint: ep, Type: eventType, Subject: subject,
			Payload: payload, CreatedAt: now, NextAttempt: now})
	}
	return out
}

// runOutbox works the outbox until ctx ends: it leases due entries, sends webhooks and
// erases at the contact centre (KindChatErasure), and retries failures with exponential
// backoff and jitter (honouring Retry-After) until MaxAttempts, after which an entry becomes a
// dead letter. Any number of replicas may run it on one shared store: leases hand each entry
// to one of them at a time. It runs when there are webhook endpoints or a ChatEraser.
func (s *Service) runOutbox(ctx context.Context) {
	webhooks := s.deps.Sender != nil && len(s.cfg.Webhooks.Endpoints) > 0
	if s.deps.Outbox == nil || !webhooks && !s.erasesChats() {
		return
	}
	cfg := s.cfg.Webhooks
	for {
		n, err := s.deliverDue(ctx, cfg)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("webhook queue not read", "err", err)
		}
		if n > 0 && err == nil {
			continue // there may be more
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Poll):
		}
	}
}

const webhookBatch = 16

// webhookDrain is how long a webhook send under way may go on once the service stops.
const webhookDrain = 3 * time.Second

func (s *Service) deliverDue(ctx context.Context, cfg WebhookConfig) (int, error) {
	due, err := s.deps.Outbox.Lease(ctx, s.now(), webhookBatch, cfg.Lease)
	if err != nil {
		return 0, err
	}
	// Send the batch at once: every send must end well inside the lease, or another replica
	// would lease the same delivery while it is still being sent.
	var wg sync.WaitGroup
	for _, d := range due {
		wg.Go(func() { s.deliver(ctx, cfg, d) })
	}
	wg.Wait()
	return len(due), ctx.Err()
}

func (s *Service) deliver(ctx context.Context, cfg WebhookConfig, d Delivery) {
	// A send under way when the service stops gets webhookDrain to finish: cut off at once,
	// a delivery the receiver already has would stay queued and be sent again.
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(15*time.Second, cfg.Lease/2))
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(webhookDrain, cancel) })
	var retryAfter time.Duration
	var err error
	switch {
	case d.Kind == KindChatErasure:
		err = s.eraseChats(sendCtx, d)
	case s.deps.Sender == nil:
		err = errors.New("no webhook sender configured")
	default:
		retryAfter, err = s.deps.Sender.Send(sendCtx, d)
	}
	stopDrain()
	cancel()
	log := s.log.With("delivery_id", d.ID, "event_id", d.EventID, "type", d.Type, "endpoint", d.Endpoint)
	erasure := d.Kind == KindChatErasure
	if erasure && (err == nil || errors.Is(err, ErrChatErasureUnsupported)) {
		noteCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		s.noteErasure(noteCtx, d, err, err != nil)
		if err != nil {
			log.Error("erasure at the contact centre not supported: only the local erasure was done", "err", err)
			err = nil // nothing to retry: remove it from the queue
		}
	}
	if err == nil {
		// Record the delivery even when shutting down, or it would be sent again.
		doneCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.deps.Outbox.Done(doneCtx, d.ID); err != nil {
			log.Warn("delivered webhook not removed from the queue (it may be sent again)", "err", err)
		}
		s.meter().WebhookDelivery(WebhookDelivered)
		return
	}
	if ctx.Err() != nil {
		return // shutting down: not the receiver's fault; the lease runs out and it is sent again
	}
	d.Attempts++
	d.LastError = err.Error()
	if erasure {
		s.noteErasure(ctx, d, err, d.Attempts >= cfg.MaxAttempts)
	}
	if d.Attempts >= cfg.MaxAttempts {
		log.Error("webhook undeliverable: kept as a dead letter", "attempts", d.Attempts, "err", err)
		err := s.deps.Outbox.Bury(ctx, d)
		if err == nil {
			s.meter().WebhookDelivery(WebhookDead)
		}
		if errors.Is(err, ErrLeaseLost) {
			log.Warn("webhook not buried: its lease ran out and another sender has it", "err", err)
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			log.Warn("dead letter not stored (the delivery will be tried again)", "err", err)
		}
		return
	}
	wait := cfg.FirstRetry << min(d.Attempts-1, 30)
	if wait > cfg.MaxRetry || wait <= 0 {
		wait = cfg.MaxRetry
	}
	wait = wait/2 + rand.N(wait/2+1)
	if retryAfter > wait {
		wait = retryAfter
	}
	d.NextAttempt = s.now().Add(wait)
	log.Warn("webhook not delivered; retrying", "attempt", d.Attempts, "in", wait.Round(time.Millisecond).String(), "err", err)
	err = s.deps.Outbox.Retry(ctx, d)
	if err == nil {
		s.meter().WebhookDelivery(WebhookRetried)
	}
	if errors.Is(err, ErrLeaseLost) {
		log.Warn("webhook retry not recorded: its lease ran out and another sender has it", "err", err)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		log.Warn("webhook retry not scheduled (the lease will expire and it will be sent again)", "err", err)
	}
}

// DeadLetters lists the webhooks that could not be delivered.
func (s *Service) DeadLetters(ctx context.Context, after string, limit int) ([]Delivery, error) {
	if s.deps.Outbox == nil {
		return nil, nil
	}
	if limit <= 0 || limit > MaxPageSize {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidInput, MaxPageSize)
	}
	return s.deps.Outbox.DeadLetters(ctx, after, limit)
}
