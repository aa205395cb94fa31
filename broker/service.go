package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Events carries session events to whoever watches them (browsers, other replicas).
// Implementations are safe for concurrent use.
type Events interface {
	Publish(ctx context.Context, ev Event) error
	// Subscribe returns the events of one session from now on, until cancel is called.
	Subscribe(ctx context.Context, sessionID string) (events <-chan Event, cancel func(), err error)
}

// Errors of the service's own. Callers match them with errors.Is.
var (
	ErrUnknownPolicy = errors.New("unknown policy")
	// ErrInvalidInput: a request the service cannot act on as asked (bad paging, a connection
	// not ready for a request, …); the message says what.
	ErrInvalidInput = errors.New("invalid input")
	// ErrIdentityGone: the session's verified identity was erased; its chat cannot continue.
	ErrIdentityGone = errors.New("verified identity erased")
	// ErrIdentityExpired: the credential the session verified has expired since.
	ErrIdentityExpired = errors.New("verified credential expired")
	// ErrNoChat: the session has no chat (yet).
	ErrNoChat = errors.New("session has no chat")
)

// Config configures the Service.
type Config struct {
	// Domain is this service's identifier, which presentation proofs must carry.
	Domain string
	// Policies are the verification policies by name; DefaultPolicy names the one used when a
	// session does not ask for one.
	Policies      map[string]Policy
	DefaultPolicy string
	// PseudonymKey keys customers' chat pseudonyms (at least 32 bytes; keep it forever).
	PseudonymKey []byte
	// SessionTTL is how long a session may take to reach a chat; default 10 minutes.
	SessionTTL time.Duration
	// ChatTokenTTL is the life of a customer's chat access token; default 1 hour.
	ChatTokenTTL time.Duration
	// InvitationGoal is the text a wallet shows with the invitation.
	InvitationGoal string
	// Webhooks configures the CRM's webhooks.
	Webhooks WebhookConfig
	// BindRetryFor is how long the service keeps retrying to open a verified session's chat
	// in the background after a failure; default 2 minutes. After that, the sweep (Run)
	// starts a new attempt while the session waits.
	BindRetryFor time.Duration
	// SweepInterval is how often the broker looks for sessions whose time is up (to record
	// their expiry) and for verified sessions still without a chat (to try again); default 1 s.
	SweepInterval time.Duration
	// IdentityCacheTTL, if positive, keeps identities read for the CRM (Identity,
	// IdentityByFlex) in memory that long at most; changes and erasures drop them at once on
	// this replica and, over Events, on the others. Zero: every read goes to the store.
	IdentityCacheTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// Policy is what the broker knows of a verification policy: the verifier holds its rules
// (broker/wallets builds these from identity's policies).
type Policy struct {
	// Name identifies the policy in the API and to the verifier.
	Name string
	// Purpose is the request's human-readable text; Assurance is the level a verification
	// under this policy gives the agent.
	Purpose   string
	Assurance string
	// DisplayClaims are the claims the agent may see.
	DisplayClaims []string
	// IssuerNames are the names the agent is shown for issuers, by DID.
	IssuerNames map[string]string
	// Definition returns the presentation definition wallets are asked to satisfy, with id.
	Definition func(id string) map[string]any
	// DeleteConversationsOnErasure: erasing a customer verified under this policy deletes
	// their chats at the contact centre rather than only scrubbing them (see ChatEraser).
	DeleteConversationsOnErasure bool
}

// Display returns the subset of claims the policy lets the agent see.
func (p Policy) Display(claims map[string]any) map[string]any {
	out := make(map[string]any, len(p.DisplayClaims))
	for _, name := range p.DisplayClaims {
		if v, ok := claims[name]; ok {
			out[name] = v
		}
	}
	return out
}

// Deps are the Service's collaborators.
type Deps struct {
	Store    Store
	Events   Events
	Wallets  Wallets
	Verifier Verifier
	Chats    Chats
	// Outbox and Sender deliver CRM webhooks; both nil: no webhooks.
	Outbox Outbox
	Sender WebhookSender
	// Erasures and ChatEraser, with Outbox, take erasures to the contact centre (erasure.go);
	// nil: an erasure is local only.
	Erasures   Erasures
	ChatEraser ChatEraser
	// Meter receives the broker's measurements (meter.go); nil measures nothing.
	Meter Meter
}

// Service runs verification sessions. It is safe for concurrent use, and several instances
// may share one Store: every decision is an atomic store transition.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	now  func() time.Time
	ids  *idSource

	bg       sync.WaitGroup
	bgCtx    context.Context
	bgCancel context.CancelFunc

	bindMu  sync.Mutex
	binding map[string]time.Time // sessions being bound here → when the attempt started

	// store is deps.Store, behind the identity cache when there is one (cache): CRM reads of
	// identities may be served from memory; reads that must see the latest write (binding,
	// chat tokens, erasure) go to deps.Store.
	store Store
	cache *cachingStore // nil: no identity cache
}

// New returns a Service.
func New(cfg Config, deps Deps) (*Service, error) {
	if deps.Store == nil || deps.Events == nil || deps.Wallets == nil || deps.Verifier == nil || deps.Chats == nil {
		return nil, errors.New("broker: every dependency is required")
	}
	if cfg.Domain == "" {
		return nil, errors.New("broker: domain is required")
	}
	if len(cfg.PseudonymKey) < 32 {
		return nil, errors.New("broker: pseudonym key must be at least 32 bytes")
	}
	if _, ok := cfg.Policies[cfg.DefaultPolicy]; !ok {
		return nil, fmt.Errorf("broker: default policy %q is not defined", cfg.DefaultPolicy)
	}
	for name, p := range cfg.Policies {
		if p.Name != name {
			return nil, fmt.Errorf("broker: policy %q registered as %q", p.Name, name)
		}
		if p.Definition == nil {
			return nil, fmt.Errorf("broker: policy %q has no presentation definition", name)
		}
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 10 * time.Minute
	}
	if cfg.ChatTokenTTL <= 0 {
		cfg.ChatTokenTTL = time.Hour
	}
	cfg.Webhooks.defaults()
	if len(cfg.Webhooks.Endpoints) > 0 && (deps.Outbox == nil || deps.Sender == nil) {
		return nil, errors.New("broker: webhook endpoints need an outbox and a sender")
	}
	if cfg.BindRetryFor <= 0 {
		cfg.BindRetryFor = 2 * time.Minute
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = time.Second
	}
	if cfg.InvitationGoal == "" {
		cfg.InvitationGoal = "Prove who you are to talk to an agent"
	}
	s := &Service{cfg: cfg, deps: deps, log: cfg.Logger, now: cfg.Now, ids: newIDSource(), binding: map[string]time.Time{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	s.store = deps.Store
	if cfg.IdentityCacheTTL > 0 {
		changes, ok := deps.Events.(IdentityChanges)
		if !ok {
			return nil, errors.New("broker: an identity cache needs an event bus that carries identity changes")
		}
		s.cache = &cachingStore{Store: deps.Store, cache: newIdentityCache(cfg.IdentityCacheTTL, s.now), changes: changes, log: s.log}
		s.store = s.cache
	}
	return s, nil
}

// Run does the service's own work until ctx ends: it records the expiry of sessions whose time
// is up, opens the chats of verified sessions whose earlier attempts gave up, delivers the
// CRM's webhooks and, with an identity cache, follows the identity changes other replicas
// announce (until Run runs, nothing is cached). Any number of replicas may run it on one store:
// every step is an atomic transition, and a chat's idempotency key is its session.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { s.sweep(ctx) })
	wg.Go(func() { s.runOutbox(ctx) })
	if s.cache != nil {
		wg.Go(func() { s.cache.watch(ctx) })
	}
	wg.Wait()
	return nil
}

// sweepBatch bounds the sessions one sweep handles of each kind; the next takes the rest.
const sweepBatch = 100

// sweep expires due sessions and retries the binding of verified ones, every SweepInterval.
func (s *Service) sweep(ctx context.Context) {
	tick := time.NewTicker(s.cfg.SweepInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.expireDue(ctx)
		s.rebindWaiting(ctx)
	}
}

// expireDue records the expiry of the sessions whose time is up.
func (s *Service) expireDue(ctx context.Context) {
	ids, err := s.store.SessionsDue(ctx, s.now(), sweepBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sessions due to expire not read", "err", err)
		}
		return
	}
	for _, id := range ids {
		sess, err := s.store.Session(ctx, id)
		if err == nil {
			_, err = s.expireIfDue(ctx, sess)
		}
		if err != nil && !errors.Is(err, ErrNotFound) && ctx.Err() == nil {
			s.log.Warn("session expiry not recorded", "session_id", id, "err", err)
		}
	}
}

// Close waits for background work (chat binding) to finish, cancelling it after ctx ends.
// Stop Run first.
func (s *Service) Close(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.bg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.bgCancel()
		<-done
		return ctx.Err()
	}
}

func (s *Service) rejectSession(ctx context.Context, id, reason string) {
	if _, err := s.transition(ctx, id, Transition{
		From: live, To: StatusRejected, Apply: func(x *Session) { x.Reason = reason },
		Outbox: s.deliveries(EventSessionRejected, "", map[string]any{"session_id": id, "reason": reason}),
	}); err != nil && !errors.Is(err, ErrConflict) {
		s.log.Error("session not rejected", "session_id", id, "reason", reason, "err", err)
	}
}

// transition applies t and publishes the resulting event.
func (s *Service) transition(ctx context.Context, id string, t Transition) (*Session, error) {
	sess, err := s.store.Transition(ctx, id, t, s.now())
	if err != nil {
		return nil, err
	}
	s.log.Debug("session transition", "session_id", id, "status", sess.Status, "reason", sess.Reason)
	s.observeTransition(t, sess)
	s.publish(ctx, sess)
	if s.cache != nil && t.Identity != nil {
		// After the event, not before: on Redis Cluster a notice published just before a
		// session's event made that event never reach the subscribers (TestCrossReplicaEvents).
		s.cache.changed(ctx, t.Identity.ID)
	}
	return sess, nil
}

func (s *Service) publish(ctx context.Context, sess *Session) {
	if err := s.deps.Events.Publish(ctx, eventOf(sess)); err != nil {
		s.log.Warn("event not published", "session_id", sess.ID, "status", sess.Status, "err", err)
	}
}

func statusOf(s *Session) Status {
	if s == nil {
		return ""
	}
	return s.Status
}

func newNonce() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
