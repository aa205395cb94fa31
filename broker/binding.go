package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// This file binds a verified session to its contact-centre chat: opening the chat with the
// verification summary (in the background, retried), the customer's chat access token, and
// the chat's end.

// Chats opens contact-centre chats and mints the customer's access token (broker/chats adapts
// the Flex client).
type Chats interface {
	// OpenChat opens the customer's chat, or finds the one an earlier call with the same
	// idempotency key opened. A failure is a *ChatError when the chat side can say what kind.
	OpenChat(ctx context.Context, req ChatRequest) (OpenedChat, error)
	// Token mints the access token of a chat identity for ttl.
	Token(identity string, ttl time.Duration) (token string, expiresAt time.Time, err error)
}

// ChatRequest describes the chat to open for a verified customer.
type ChatRequest struct {
	// Identity is the customer's pseudonym (hr_…): never a DID or a real name.
	Identity string
	// CustomerFriendlyName is what the agent sees as the customer's name.
	CustomerFriendlyName string
	// ChatFriendlyName names the chat.
	ChatFriendlyName string
	// Attributes is the verification summary the agent sees (Summary).
	Attributes map[string]any
	// IdempotencyKey makes opening idempotent across retries and replicas: the session ID.
	IdempotencyKey string
}

// OpenedChat is a chat the chat side opened (or found) for a ChatRequest.
type OpenedChat struct {
	Identity        string
	ConversationSID string
	// ChannelSID is set when the chat is a channel (Flex Flow mode); it is then the chat's SID.
	ChannelSID string
}

// SID is the chat's SID in either mode.
func (c OpenedChat) SID() string {
	if c.ChannelSID != "" {
		return c.ChannelSID
	}
	return c.ConversationSID
}

// ChatErrorKind says what a chat failure means for the session waiting for its chat.
type ChatErrorKind int

const (
	// ChatTemporary: the chat side failed or refused for now; trying again may succeed.
	ChatTemporary ChatErrorKind = iota + 1
	// ChatMisconfigured: the account or its configuration is wrong; an operator must act.
	ChatMisconfigured
	// ChatRejected: the chat side refused this request; trying again will not help.
	ChatRejected
)

// ChatError is a failure to open a chat, of a kind the broker acts on.
type ChatError struct {
	Kind ChatErrorKind
	Err  error
}

func (e *ChatError) Error() string { return e.Err.Error() }
func (e *ChatError) Unwrap() error { return e.Err }

// Chat errors a session records while it waits, verified, for its chat (ChatError).
const (
	ChatErrorUnavailable    = "twilio_unavailable"   // Twilio failed or refused for now; retried
	ChatErrorMisconfigured  = "twilio_misconfigured" // the account or its SIDs are wrong
	ChatErrorRejected       = "twilio_rejected"      // Twilio refused the request
	bindRetryMinimumBackoff = 500 * time.Millisecond
	bindRetryMaximumBackoff = 15 * time.Second
	// rebindAfter: a verified session gets a new attempt from the sweep if it has not changed
	// for that long and none is under way on this replica.
	rebindAfter = 2 * time.Second
)

// bindLater opens the chat in the background (the wallet has its answer already), retrying
// with backoff for Config.BindRetryFor; after that, the sweep starts it again. Only one attempt
// per session runs on a replica; the chat's idempotency key (the session ID) keeps replicas
// from opening two.
func (s *Service) bindLater(id string) {
	s.bindMu.Lock()
	if _, busy := s.binding[id]; busy {
		s.bindMu.Unlock()
		return
	}
	s.binding[id] = s.now()
	s.bindMu.Unlock()
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer func() {
			s.bindMu.Lock()
			delete(s.binding, id)
			s.bindMu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(s.bgCtx, s.cfg.BindRetryFor)
		defer cancel()
		backoff := bindRetryMinimumBackoff
		for {
			err := s.Bind(ctx, id)
			if err == nil || errors.Is(err, ErrConflict) || errors.Is(err, ErrNotFound) || !temporary(err) {
				if err != nil && !errors.Is(err, ErrConflict) {
					s.log.Error("chat not opened; the session stays verified", "session_id", id, "err", err)
				}
				return
			}
			s.log.Warn("chat not opened yet; retrying", "session_id", id, "in", backoff.String(), "err", err)
			select {
			case <-ctx.Done():
				s.log.Error("chat not opened; the session stays verified and is retried when read", "session_id", id, "err", err)
				return
			case <-time.After(backoff/2 + rand.N(backoff)):
			}
			backoff = min(2*backoff, bindRetryMaximumBackoff)
		}
	}()
}

// rebindWaiting starts a background bind of each verified session still waiting for its chat,
// unless an attempt is under way here or the session was just verified (its first attempt is
// still running, here or on another replica). This is how a session whose attempts gave up
// (Twilio down longer than BindRetryFor, or its replica stopped) gets its chat once Twilio is
// back.
func (s *Service) rebindWaiting(ctx context.Context) {
	ids, err := s.store.SessionsAwaitingChat(ctx, sweepBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sessions waiting for a chat not read", "err", err)
		}
		return
	}
	for _, id := range ids {
		s.bindMu.Lock()
		_, busy := s.binding[id]
		s.bindMu.Unlock()
		if busy {
			continue // an attempt is under way here: no need to read the session every second
		}
		sess, err := s.store.Session(ctx, id)
		if err != nil || sess.Status != StatusVerified || s.now().Sub(sess.UpdatedAt) < rebindAfter {
			continue
		}
		s.bindLater(id)
	}
}

func temporary(err error) bool {
	var ce *ChatError
	if errors.As(err, &ce) {
		return ce.Kind == ChatTemporary
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Bind opens the contact-centre chat of a verified session and marks it bound. The agent sees
// the verification summary with only the policy's display claims; Twilio never sees the
// holder DID or other claims. The session ID is the chat's idempotency key: a retried or
// concurrent Bind (on any replica) finds the chat an earlier attempt opened. A failure leaves
// the session verified, with ChatError saying why.
func (s *Service) Bind(ctx context.Context, id string) error {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return err
	}
	if sess.Status != StatusVerified {
		return &StateError{SessionID: id, Current: sess.Status, To: StatusBound}
	}
	ident, err := s.deps.Store.Identity(ctx, sess.IdentityID) // fresh, not the CRM cache
	if err != nil {
		return fmt.Errorf("identity %s: %w", sess.IdentityID, err)
	}
	policy := s.cfg.Policies[sess.Policy]
	chat, err := s.deps.Chats.OpenChat(ctx, ChatRequest{
		Identity:             ident.FlexIdentity,
		CustomerFriendlyName: friendlyName(policy.Display(ident.Claims)),
		ChatFriendlyName:     "Verified chat " + sess.ID,
		Attributes:           Summary(ident, policy),
		IdempotencyKey:       sess.ID,
	})
	if err != nil {
		s.noteChatError(ctx, id, err)
		return fmt.Errorf("open chat: %w", err)
	}
	// Link first: a crash between the two leaves a verified session that the next attempt
	// binds to the same chat, never a bound session the chat's webhooks cannot find.
	if err := s.store.LinkChat(ctx, chat.SID(), id, sess.ExpiresAt); err != nil {
		return fmt.Errorf("link chat: %w", err)
	}
	bound := &Chat{Identity: chat.Identity, ConversationSID: chat.SID(), ChannelSID: chat.ChannelSID}
	_, err = s.transition(ctx, id, Transition{
		From: []Status{StatusVerified},
		To:   StatusBound,
		Apply: func(x *Session) {
			x.Chat = &Chat{Identity: bound.Identity, ConversationSID: bound.ConversationSID, ChannelSID: bound.ChannelSID}
			x.ChatError = ""
		},
		Outbox: s.deliveries(EventSessionBound, sess.IdentityID, map[string]any{"session_id": id, "identity_id": sess.IdentityID, "chat": bound}),
	})
	return err
}

// noteChatError records on a verified session why its chat is not open, for its customer and
// the CRM to see.
func (s *Service) noteChatError(ctx context.Context, id string, err error) {
	code := ChatErrorUnavailable
	if ce := (*ChatError)(nil); errors.As(err, &ce) {
		switch ce.Kind {
		case ChatMisconfigured:
			code = ChatErrorMisconfigured
		case ChatRejected:
			code = ChatErrorRejected
		}
	}
	// Published like any change: the customer's page says that the chat is late.
	if _, terr := s.transition(ctx, id, Transition{
		From: []Status{StatusVerified}, To: StatusVerified, Apply: func(x *Session) { x.ChatError = code },
	}); terr != nil && !errors.Is(terr, ErrConflict) {
		s.log.Warn("chat error not recorded", "session_id", id, "err", terr)
	}
}

// ChatToken mints the customer's chat access token of a bound session, after checking that the
// identity it verified still stands: not erased (ErrIdentityGone), credential not expired
// (ErrIdentityExpired).
func (s *Service) ChatToken(ctx context.Context, sess *Session) (string, time.Time, error) {
	if sess.Status == StatusBound && sess.IdentityID == "" {
		// An erasure scrubs the identity and its chat from the sessions it verified, which
		// stay bound: the customer must hear that the identity is gone, not that a chat closed.
		return "", time.Time{}, ErrIdentityGone
	}
	if sess.Status != StatusBound || sess.Chat == nil {
		return "", time.Time{}, ErrNoChat
	}
	ident, err := s.deps.Store.Identity(ctx, sess.IdentityID) // fresh, not the CRM cache
	if errors.Is(err, ErrNotFound) {
		return "", time.Time{}, ErrIdentityGone
	}
	if err != nil {
		return "", time.Time{}, err
	}
	if !ident.ExpiresAt.IsZero() && !s.now().Before(ident.ExpiresAt) {
		return "", time.Time{}, ErrIdentityExpired
	}
	tok, exp, err := s.deps.Chats.Token(sess.Chat.Identity, s.cfg.ChatTokenTTL)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mint chat token: %w", err)
	}
	if !ident.ExpiresAt.IsZero() && exp.After(ident.ExpiresAt) {
		// never beyond the credential's own validity
		return s.shortToken(sess.Chat.Identity, ident.ExpiresAt)
	}
	return tok, exp, nil
}

func (s *Service) shortToken(identity string, until time.Time) (string, time.Time, error) {
	ttl := until.Sub(s.now())
	if ttl < time.Second {
		return "", time.Time{}, ErrIdentityExpired
	}
	return s.deps.Chats.Token(identity, ttl)
}

// RefreshChatToken is ChatToken for a session by ID: what the customer's chat window calls
// before its token expires.
func (s *Service) RefreshChatToken(ctx context.Context, id string) (string, time.Time, error) {
	sess, err := s.Session(ctx, id)
	if err != nil {
		return "", time.Time{}, err
	}
	return s.ChatToken(ctx, sess)
}

// ChatClosed handles the end of a contact-centre chat (Twilio's webhook): every bound session
// on it becomes closed.
func (s *Service) ChatClosed(ctx context.Context, chatSID string) error {
	sessions, err := s.store.SessionsByChat(ctx, chatSID)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		if _, err := s.transition(ctx, sess.ID, Transition{From: []Status{StatusBound}, To: StatusClosed,
			Outbox: s.deliveries(EventSessionClosed, sess.IdentityID, map[string]any{"session_id": sess.ID, "identity_id": sess.IdentityID}),
		}); err != nil && !errors.Is(err, ErrConflict) {
			return err
		}
		s.log.Info("chat closed", "session_id", sess.ID)
	}
	return nil
}

// ChatSummary returns the verification summary (Summary) the agent of chat chatSID is shown:
// that of the chat's bound session, the most recently updated when a returning customer's
// sessions share the chat. ErrNotFound when no bound session with a standing identity is on
// that chat (unknown, closed, or its identity erased). It is what the agent-facing API
// serves: never the holder DID, never a claim the policy does not display.
func (s *Service) ChatSummary(ctx context.Context, chatSID string) (map[string]any, error) {
	sessions, err := s.store.SessionsByChat(ctx, chatSID)
	if err != nil {
		return nil, err
	}
	var latest *Session
	for _, sess := range sessions {
		if sess.Status != StatusBound || sess.IdentityID == "" {
			continue
		}
		if latest == nil || sess.UpdatedAt.After(latest.UpdatedAt) {
			latest = sess
		}
	}
	if latest == nil {
		return nil, fmt.Errorf("chat %s: %w", chatSID, ErrNotFound)
	}
	ident, err := s.deps.Store.Identity(ctx, latest.IdentityID) // fresh, not the CRM cache
	if err != nil {
		return nil, err
	}
	return Summary(ident, s.cfg.Policies[latest.Policy]), nil
}

// Summary is what the agent is told about a verified customer: that they are verified, by
// whom, with what assurance, and the claims the policy lets the agent see — nothing else.
// The issuer is named as the policy names it ("issuer_name"), when it does.
func Summary(ident *Identity, policy Policy) map[string]any {
	out := map[string]any{
		"verified":        true,
		"issuer":          ident.IssuerDID,
		"credential_type": ident.CredentialType,
		"verified_at":     ident.VerifiedAt.UTC().Format(time.RFC3339),
		"assurance":       ident.Assurance,
		"claims":          policy.Display(ident.Claims),
	}
	if name := policy.IssuerNames[ident.IssuerDID]; name != "" {
		out["issuer_name"] = name
	}
	return out
}

func friendlyName(display map[string]any) string {
	var parts []string
	for _, k := range []string{"givenName", "familyName"} {
		if v, ok := display[k].(string); ok && v != "" && !strings.HasPrefix(v, "did:") { // never a DID
			parts = append(parts, v)
		}
	}
	if len(parts) == 0 {
		return "Verified customer"
	}
	return strings.Join(parts, " ")
}
