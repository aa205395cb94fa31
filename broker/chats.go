package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hearro/trustbroker/flex"
)

// Chat errors a session records while it waits, verified, for its chat (ChatError).
const (
	ChatErrorUnavailable    = "twilio_unavailable"   // Twilio failed or refused for now; retried
	ChatErrorMisconfigured  = "twilio_misconfigured" // the account or its SIDs are wrong
	ChatErrorRejected       = "twilio_rejected"      // Twilio refused the request
	bindRetryMinimumBackoff = 500 * time.Millisecond
	bindRetryMaximumBackoff = 15 * time.Second
	// rebindAfter: a verified session read by its customer gets a new attempt if none started
	// on this replica for that long.
	rebindAfter = 2 * time.Second
)

// bindLater opens the chat in the background (the wallet has its answer already), retrying
// with backoff for Config.BindRetryFor. Only one attempt per session runs on a replica; the
// chat's idempotency key (the session ID) keeps replicas from opening two.
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

// retryBind starts a background bind of a verified session unless one is under way here.
func (s *Service) retryBind(sess *Session) {
	if s.now().Sub(sess.UpdatedAt) < rebindAfter {
		return // just verified: the first attempt is still running somewhere
	}
	s.bindLater(sess.ID)
}

func temporary(err error) bool {
	var fe *flex.Error
	if errors.As(err, &fe) {
		return fe.Temporary()
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}

// Bind opens the contact-centre chat of a verified session and marks it bound. The agent sees
// the verification summary with only the policy's display claims; Twilio never sees the
// holder DID or other claims. The session ID is the chat's idempotency key: a retried or
// concurrent Bind (on any replica) finds the chat an earlier attempt opened. A failure leaves
// the session verified, with ChatError saying why.
func (s *Service) Bind(ctx context.Context, id string) error {
	sess, err := s.deps.Store.Session(ctx, id)
	if err != nil {
		return err
	}
	if sess.Status != StatusVerified {
		return &StateError{SessionID: id, Current: sess.Status, To: StatusBound}
	}
	ident, err := s.deps.Store.Identity(ctx, sess.IdentityID)
	if err != nil {
		return fmt.Errorf("identity %s: %w", sess.IdentityID, err)
	}
	policy := s.cfg.Policies[sess.Policy]
	chat, err := s.deps.Chats.OpenChat(ctx, flex.ChatRequest{
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
	if err := s.deps.Store.LinkChat(ctx, chat.SID(), id, sess.ExpiresAt); err != nil {
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
	var fe *flex.Error
	switch {
	case errors.Is(err, flex.ErrMisconfigured):
		code = ChatErrorMisconfigured
	case errors.As(err, &fe) && !fe.Temporary():
		code = ChatErrorRejected
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
	ident, err := s.deps.Store.Identity(ctx, sess.IdentityID)
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
	sessions, err := s.deps.Store.SessionsByChat(ctx, chatSID)
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
