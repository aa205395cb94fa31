package broker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hearro/trustbroker/identity/confirm"
)

// CreateSession starts a session: a fresh nonce, a confirmation code, and an out-of-band
// invitation for the wallet whose goal carries the code (so the wallet shows the code the
// customer's page shows). An empty policy means the default one.
func (s *Service) CreateSession(ctx context.Context, policy string) (*Session, error) {
	policy, err := s.policy(policy)
	if err != nil {
		return nil, err
	}
	code := confirm.New()
	inv, err := s.deps.Wallets.CreateInvitation(ctx, s.cfg.InvitationGoal, code)
	if err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	sess, err := s.newSession(ctx, policy, code, func(x *Session) {
		x.Status, x.InvitationID, x.Invitation = StatusInvited, inv.ID, inv.JSON
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("session created", "session_id", sess.ID, "policy", policy)
	return sess, nil
}

// policy returns the name of the policy a session asks for: the default for "", or
// ErrUnknownPolicy.
func (s *Service) policy(name string) (string, error) {
	if name == "" {
		name = s.cfg.DefaultPolicy
	}
	if _, ok := s.cfg.Policies[name]; !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownPolicy, name)
	}
	return name, nil
}

// newSession stores and announces a new session under policy, with a fresh nonce, the
// confirmation code, and its time; with sets what else it starts with (status created if not).
func (s *Service) newSession(ctx context.Context, policy, code string, with func(*Session)) (*Session, error) {
	now := s.now()
	sess := &Session{
		ID:               s.ids.next(now),
		Status:           StatusCreated,
		Policy:           policy,
		Nonce:            newNonce(),
		ConfirmationCode: code,
		CreatedAt:        now,
		UpdatedAt:        now,
		ExpiresAt:        now.Add(s.cfg.SessionTTL),
		Version:          1, // what the store records for a new session
	}
	with(sess)
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("store session: %w", err)
	}
	s.publish(ctx, sess)
	return sess, nil
}

// Session returns a session. One whose time is up reads as expired at once, as the expiry
// will record it: reading never writes; the broker's expiry sweep (Run) records the expiry and
// queues its webhook.
func (s *Service) Session(ctx context.Context, id string) (*Session, error) {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return nil, err
	}
	if s.due(sess) {
		x := *sess
		x.Status, x.Version = StatusExpired, sess.Version+1
		if x.UpdatedAt.Before(sess.ExpiresAt) {
			x.UpdatedAt = sess.ExpiresAt
		}
		return &x, nil
	}
	return sess, nil
}

// due reports whether a session's time is up while it still waits (for a wallet or a chat).
func (s *Service) due(sess *Session) bool {
	return !sess.Status.Terminal() && sess.Status != StatusBound && !s.now().Before(sess.ExpiresAt)
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
	case sess.Status == StatusBound && sess.Chat != nil:
		v.ChatToken, v.ChatTokenExpiresAt, err = s.ChatToken(ctx, sess)
		if err != nil && !errors.Is(err, ErrIdentityGone) && !errors.Is(err, ErrIdentityExpired) {
			return nil, err
		}
	}
	return v, nil
}

// Watch streams a session's state: first its current state, then one event per change, until
// ctx ends or the session reaches a terminal state (the last event is sent, then the channel
// closes). A session that runs out of time while watched ends with its expiry at once.
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

// expireIfDue moves a session whose time is up, and that has not reached a chat, to expired:
// the expiry sweep does, and so does a wallet's message arriving for it.
func (s *Service) expireIfDue(ctx context.Context, sess *Session) (*Session, error) {
	if !s.due(sess) {
		return sess, nil
	}
	out, err := s.transition(ctx, sess.ID, Transition{From: live, To: StatusExpired,
		Outbox: s.deliveries(EventSessionExpired, "", map[string]any{"session_id": sess.ID})})
	if errors.Is(err, ErrConflict) {
		return s.store.Session(ctx, sess.ID) // somebody else moved it meanwhile
	}
	return out, err
}
