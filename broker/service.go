package broker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/confirm"
	"github.com/hearro/trustbroker/identity/didcomm"
)

// Wallets is the DIDComm side of a session, implemented by *didcomm.Agent.
type Wallets interface {
	// CreateInvitation makes an invitation whose goal carries the confirmation code.
	CreateInvitation(ctx context.Context, goal, confirmationCode string) (didcomm.Invitation, error)
	RequestPresentation(ctx context.Context, connectionID, threadID string, req didcomm.PresentationRequest) (didcomm.Peer, error)
	Acknowledge(ctx context.Context, peer didcomm.Peer) error
	Reject(ctx context.Context, peer didcomm.Peer, code, explain string) error
	Connections(ctx context.Context) ([]didcomm.ConnectionInfo, error)
	// Connection returns one connection or an error matching didcomm.ErrUnknownConnection.
	Connection(ctx context.Context, id string) (didcomm.ConnectionInfo, error)
	RemoveConnection(ctx context.Context, id string) error
}

// Verifier decides whether a presentation satisfies a policy, implemented by
// *identity.Verifier. A refusal is an *identity.RejectError.
type Verifier interface {
	Verify(ctx context.Context, presentation []byte, req identity.Request) (*identity.Result, error)
}

// Chats opens contact-centre chats and mints the customer's access token, implemented by
// *flex.Client.
type Chats interface {
	OpenChat(ctx context.Context, req flex.ChatRequest) (flex.Chat, error)
	Token(identity string, ttl time.Duration) (token string, expiresAt time.Time, err error)
}

// Events carries session events to whoever watches them (browsers, other replicas).
// Implementations are safe for concurrent use.
type Events interface {
	Publish(ctx context.Context, ev Event) error
	// Subscribe returns the events of one session from now on, until cancel is called.
	Subscribe(ctx context.Context, sessionID string) (events <-chan Event, cancel func(), err error)
}

// Reasons a session is rejected for that are not about the credential (those are
// identity.Reason values).
const (
	ReasonWalletUnreachable = "wallet_unreachable"
	ReasonInternal          = "internal_error"
)

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
	Policies      map[string]*identity.Policy
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
	// in the background after a failure; default 2 minutes. After that, reading the session
	// (the customer's browser polls it) starts a new attempt.
	BindRetryFor time.Duration
	// IdentityCacheTTL, if positive, keeps identities read for the CRM (Identity,
	// IdentityByFlex) in memory that long at most; changes and erasures drop them at once on
	// this replica and, over Events, on the others. Zero: every read goes to the store.
	IdentityCacheTTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
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

	idCache      *identityCache // nil: off
	stopWatching context.CancelFunc
	watching     sync.WaitGroup
}

var _ didcomm.Handler = (*Service)(nil)

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
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("broker: %w", err)
		}
		if p.Name != name {
			return nil, fmt.Errorf("broker: policy %q registered as %q", p.Name, name)
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
	if cfg.IdentityCacheTTL > 0 {
		s.idCache = newIdentityCache(cfg.IdentityCacheTTL, s.now)
		var ctx context.Context
		ctx, s.stopWatching = context.WithCancel(context.Background())
		s.watching.Go(func() { s.watchIdentityChanges(ctx) })
	}
	return s, nil
}

// Close waits for background work (chat binding) to finish, cancelling it after ctx ends.
func (s *Service) Close(ctx context.Context) error {
	if s.stopWatching != nil {
		s.stopWatching()
		s.watching.Wait()
	}
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

// CreateSession starts a session: a fresh nonce, a confirmation code, and an out-of-band
// invitation for the wallet whose goal carries the code (so the wallet shows the code the
// customer's page shows). An empty policy means the default one.
func (s *Service) CreateSession(ctx context.Context, policy string) (*Session, error) {
	if policy == "" {
		policy = s.cfg.DefaultPolicy
	}
	if _, ok := s.cfg.Policies[policy]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPolicy, policy)
	}
	code := confirm.New()
	inv, err := s.deps.Wallets.CreateInvitation(ctx, s.cfg.InvitationGoal, code)
	if err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	now := s.now()
	sess := &Session{
		ID:               s.ids.next(now),
		Status:           StatusInvited,
		Policy:           policy,
		Nonce:            newNonce(),
		ConfirmationCode: code,
		InvitationID:     inv.ID,
		Invitation:       inv.JSON,
		CreatedAt:        now,
		UpdatedAt:        now,
		ExpiresAt:        now.Add(s.cfg.SessionTTL),
		Version:          1, // what the store records for a new session
	}
	if err := s.deps.Store.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("store session: %w", err)
	}
	s.log.Info("session created", "session_id", sess.ID, "policy", policy)
	s.publish(ctx, sess)
	return sess, nil
}

// Session returns a session, expiring it first if its time is up.
func (s *Service) Session(ctx context.Context, id string) (*Session, error) {
	sess, err := s.deps.Store.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	return s.expireIfDue(ctx, sess)
}

// SessionView is a session as its customer sees it: with a fresh chat token once bound.
type SessionView struct {
	*Session
	ChatToken          string
	ChatTokenExpiresAt time.Time
}

// DescribeSession returns the session and, when it is bound, a freshly minted chat access
// token for the customer (tokens are never stored).
func (s *Service) DescribeSession(ctx context.Context, id string) (*SessionView, error) {
	sess, err := s.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	v := &SessionView{Session: sess}
	switch {
	case sess.Status == StatusVerified:
		s.retryBind(sess) // the customer is waiting: try again if nothing is under way
	case sess.Status == StatusBound && sess.Chat != nil:
		v.ChatToken, v.ChatTokenExpiresAt, err = s.ChatToken(ctx, sess)
		if err != nil && !errors.Is(err, ErrIdentityGone) && !errors.Is(err, ErrIdentityExpired) {
			return nil, err
		}
	}
	return v, nil
}

// Identity returns a verified identity.
func (s *Service) Identity(ctx context.Context, id string) (*Identity, error) {
	return s.readIdentity(func(c *identityCache) (*Identity, bool) { return c.get(id) },
		func() (*Identity, error) { return s.deps.Store.Identity(ctx, id) })
}

// Watch streams a session's state: first its current state, then one event per change, until
// ctx ends or the session reaches a terminal state (the last event is sent, then the channel
// closes). A session that runs out of time while watched is expired on the spot.
func (s *Service) Watch(ctx context.Context, id string) (<-chan Event, error) {
	events, cancel, err := s.deps.Events.Subscribe(ctx, id)
	if err != nil {
		return nil, err
	}
	sess, err := s.Session(ctx, id)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan Event, 1)
	go func() {
		defer close(out)
		defer cancel()
		last := eventOf(sess)
		if !send(ctx, out, last) || last.Status.Terminal() {
			return
		}
		timer := time.NewTimer(time.Until(sess.ExpiresAt) + 10*time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
				if cur, err := s.Session(ctx, id); err == nil && cur.Version > last.Version {
					last = eventOf(cur)
					if !send(ctx, out, last) || last.Status.Terminal() {
						return
					}
				}
			case ev, ok := <-events:
				if !ok {
					return
				}
				if ev.Version <= last.Version {
					continue // already seen (the current state, or a duplicate delivery)
				}
				last = ev
				if !send(ctx, out, ev) || ev.Status.Terminal() {
					return
				}
			}
		}
	}()
	return out, nil
}

func send(ctx context.Context, out chan<- Event, ev Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// Connected handles a completed DID exchange: the wallet answered a session's invitation, so
// the session asks it for a presentation.
func (s *Service) Connected(ctx context.Context, c didcomm.Connection) {
	sess, err := s.deps.Store.SessionByInvitation(ctx, c.InvitationID)
	if err != nil {
		s.log.Warn("connection for no known session", "connection_id", c.ConnectionID, "err", err)
		return
	}
	log := s.log.With("session_id", sess.ID, "connection_id", c.ConnectionID)
	if sess, err = s.expireIfDue(ctx, sess); err != nil || sess.Status != StatusInvited {
		log.Warn("connection ignored: session is no longer waiting for a wallet", "status", statusOf(sess), "err", err)
		return
	}
	sess, err = s.transition(ctx, sess.ID, Transition{
		From:  []Status{StatusInvited},
		To:    StatusConnected,
		Apply: func(x *Session) { x.ConnectionID = c.ConnectionID },
	})
	if err != nil {
		log.Warn("connection not recorded", "err", err)
		return
	}
	if _, err := s.request(ctx, sess); err != nil {
		log.Warn("presentation request not recorded", "err", err)
	}
}

// PresentationReceived verifies a wallet's presentation and answers it: an ack and a verified
// identity, or a problem report with the reason and a rejected session.
func (s *Service) PresentationReceived(ctx context.Context, p didcomm.ReceivedPresentation) {
	sess, err := s.deps.Store.SessionByThread(ctx, p.ThreadID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		// The store is unreachable: not the wallet's fault, and not final.
		s.log.Error("presentation's session not read", "err", err)
		s.answerProblem(ctx, p.Peer, ReasonInternal, "try again later")
		return
	}
	if err != nil || sess.ConnectionID != p.ConnectionID {
		s.answerProblem(ctx, p.Peer, "unknown_thread", "no presentation was requested on this thread")
		return
	}
	log := s.log.With("session_id", sess.ID, "connection_id", p.ConnectionID)
	if sess, err = s.expireIfDue(ctx, sess); err != nil {
		log.Error("read session", "err", err)
		s.answerProblem(ctx, p.Peer, ReasonInternal, "try again later")
		return
	}
	switch {
	case sess.Status == StatusExpired:
		s.answerProblem(ctx, p.Peer, "session_expired", "the verification session has expired")
		return
	case sess.Status != StatusRequested:
		s.answerProblem(ctx, p.Peer, string(identity.ReasonReplayed), "a presentation was already received on this thread")
		return
	}
	policy := s.cfg.Policies[sess.Policy]
	res, err := s.deps.Verifier.Verify(ctx, p.Presentation, identity.Request{
		Policy: policy, Challenge: sess.Nonce, Domain: s.cfg.Domain, ConnectionDID: p.TheirDID,
	})
	if err != nil {
		reason, detail := string(identity.ReasonOf(err)), err.Error()
		if reason == "" {
			log.Error("verification failed", "err", err)
			reason, detail = ReasonInternal, "the presentation could not be verified"
		}
		if _, terr := s.transition(ctx, sess.ID, Transition{
			From: []Status{StatusRequested}, To: StatusRejected, Apply: func(x *Session) { x.Reason = reason },
			Outbox: s.deliveries(EventSessionRejected, "", map[string]any{"session_id": sess.ID, "reason": reason}),
		}); terr != nil {
			s.answerNotRecorded(ctx, log, p.Peer, terr)
			return
		}
		log.Info("presentation rejected", "reason", reason, "detail", detail)
		// The wallet gets the code and a fixed sentence: the detail may say what a host
		// answered to a fetch the presentation caused, which is not a stranger's business.
		explain := identity.Reason(reason).Explain()
		if reason == ReasonInternal {
			explain = detail
		}
		s.answerProblem(ctx, p.Peer, reason, explain)
		return
	}
	now := s.now()
	ident := &Identity{
		ID:             s.ids.next(now),
		FlexIdentity:   Pseudonym(s.cfg.PseudonymKey, res.HolderDID),
		HolderDID:      res.HolderDID,
		IssuerDID:      res.IssuerDID,
		CredentialType: res.CredentialType,
		Claims:         res.Claims,
		Policy:         policy.Name,
		Assurance:      policy.Assurance,
		ConnectionID:   p.ConnectionID,
		SessionID:      sess.ID,
		CreatedAt:      now,
		VerifiedAt:     now,
		ExpiresAt:      res.ExpiresAt,
	}
	// A returning customer keeps their identity's ID: read it now, so the webhook announcing
	// the verification (queued in the same step) names the ID the store keeps.
	if existing, err := s.deps.Store.IdentityByFlex(ctx, ident.FlexIdentity); err == nil {
		ident.ID, ident.CreatedAt = existing.ID, existing.CreatedAt
	}
	sess, err = s.transition(ctx, sess.ID, Transition{
		From: []Status{StatusRequested}, To: StatusVerified, Identity: ident,
		Outbox: s.deliveries(EventIdentityVerified, ident.ID, map[string]any{"session_id": sess.ID, "identity": ident}),
	})
	if err != nil {
		s.answerNotRecorded(ctx, log, p.Peer, err)
		return
	}
	s.identityChanged(ctx, ident.ID) // a returning customer's identity was updated
	log.Info("presentation verified", "identity_id", ident.ID, "issuer", res.IssuerDID)
	if err := s.deps.Wallets.Acknowledge(ctx, p.Peer); err != nil {
		log.Warn("ack not delivered to wallet", "err", err)
	}
	s.bindLater(sess.ID)
}

// ProblemReported handles a wallet's problem report: it declined, or failed. The session is
// rejected as declined, or as confirmation_mismatch when the wallet says that is why it
// declined (its owner expected another code: the invitation was not for their screen). Any
// other code the wallet sends is logged, not kept: reasons are this service's vocabulary.
func (s *Service) ProblemReported(ctx context.Context, p didcomm.ReceivedProblem) {
	sess, err := s.deps.Store.SessionByThread(ctx, p.ThreadID)
	if err != nil || sess.ConnectionID != p.ConnectionID {
		return
	}
	reason := identity.ReasonDeclined
	if p.Code == string(identity.ReasonConfirmationMismatch) {
		reason = identity.ReasonConfirmationMismatch
	}
	s.log.Info("wallet reported a problem", "session_id", sess.ID, "code", p.Code, "reason", reason)
	s.rejectSession(ctx, sess.ID, string(reason))
}

// Summary is what the agent is told about a verified customer: that they are verified, by
// whom, with what assurance, and the claims the policy lets the agent see — nothing else.
func Summary(ident *Identity, policy *identity.Policy) map[string]any {
	return map[string]any{
		"verified":        true,
		"issuer":          ident.IssuerDID,
		"credential_type": ident.CredentialType,
		"verified_at":     ident.VerifiedAt.UTC().Format(time.RFC3339),
		"assurance":       ident.Assurance,
		"claims":          policy.Display(ident.Claims),
	}
}

func friendlyName(display map[string]any) string {
	var parts []string
	for _, k := range []string{"givenName", "familyName"} {
		if v, ok := display[k].(string); ok && v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return "Verified customer"
	}
	return strings.Join(parts, " ")
}

func (s *Service) rejectSession(ctx context.Context, id, reason string) {
	if _, err := s.transition(ctx, id, Transition{
		From: live, To: StatusRejected, Apply: func(x *Session) { x.Reason = reason },
		Outbox: s.deliveries(EventSessionRejected, "", map[string]any{"session_id": id, "reason": reason}),
	}); err != nil && !errors.Is(err, ErrConflict) {
		s.log.Error("session not rejected", "session_id", id, "reason", reason, "err", err)
	}
}

// answerNotRecorded answers a presentation whose outcome could not be stored: another one won
// the race for the session (replayed), or the store failed (internal_error: the customer starts
// again; the session expires).
func (s *Service) answerNotRecorded(ctx context.Context, log *slog.Logger, peer didcomm.Peer, err error) {
	if errors.Is(err, ErrConflict) {
		s.answerProblem(ctx, peer, string(identity.ReasonReplayed), "a presentation was already received on this thread")
		return
	}
	log.Error("presentation's outcome not recorded", "err", err)
	s.answerProblem(ctx, peer, ReasonInternal, "the outcome could not be recorded; please start again")
}

func (s *Service) answerProblem(ctx context.Context, peer didcomm.Peer, code, explain string) {
	if err := s.deps.Wallets.Reject(ctx, peer, code, explain); err != nil {
		s.log.Warn("problem report not delivered to wallet", "code", code, "err", err)
	}
}

// expireIfDue moves a session whose time is up, and that has not reached a chat, to expired.
func (s *Service) expireIfDue(ctx context.Context, sess *Session) (*Session, error) {
	if sess.Status.Terminal() || sess.Status == StatusBound || s.now().Before(sess.ExpiresAt) {
		return sess, nil
	}
	out, err := s.transition(ctx, sess.ID, Transition{From: live, To: StatusExpired,
		Outbox: s.deliveries(EventSessionExpired, "", map[string]any{"session_id": sess.ID})})
	if errors.Is(err, ErrConflict) {
		return s.deps.Store.Session(ctx, sess.ID) // somebody else moved it meanwhile
	}
	return out, err
}

// transition applies t and publishes the resulting event.
func (s *Service) transition(ctx context.Context, id string, t Transition) (*Session, error) {
	sess, err := s.deps.Store.Transition(ctx, id, t, s.now())
	if err != nil {
		return nil, err
	}
	s.log.Debug("session transition", "session_id", id, "status", sess.Status, "reason", sess.Reason)
	s.publish(ctx, sess)
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
