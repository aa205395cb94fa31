package broker

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/hearro/trustbroker/identity/confirm"
	"github.com/hearro/trustbroker/identity/didcomm"
)

// MaxPageSize bounds a page of identities.
const MaxPageSize = 200

// IdentityPage is one page of a listing; Next is the cursor of the following page, "" at the end.
type IdentityPage struct {
	Items []*Identity
	Next  string
}

// ListIdentities returns the identities matching f, limit at a time, after cursor ("" for the
// first page). The cursor is the ID of the last identity seen, so paging is stable while new
// customers are verified.
func (s *Service) ListIdentities(ctx context.Context, f IdentityFilter, cursor string, limit int) (*IdentityPage, error) {
	if limit <= 0 || limit > MaxPageSize {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidInput, MaxPageSize)
	}
	items, err := s.deps.Store.ListIdentities(ctx, f, cursor, limit+1)
	if err != nil {
		return nil, err
	}
	page := &IdentityPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.Next = items[limit-1].ID
	}
	return page, nil
}

// IdentityByFlex returns the identity behind a chat pseudonym: what the agent's CRM panel
// asks when a chat arrives.
func (s *Service) IdentityByFlex(ctx context.Context, flexIdentity string) (*Identity, error) {
	return s.readIdentity(func(c *identityCache) (*Identity, bool) { return c.getByFlex(flexIdentity) },
		func() (*Identity, error) { return s.deps.Store.IdentityByFlex(ctx, flexIdentity) })
}

// EraseIdentity forgets a customer: the identity record with its claims and indexes, and the
// DIDComm connection it was verified over. What remains is that an erasure happened (logged
// with the identity ID only).
func (s *Service) EraseIdentity(ctx context.Context, id string) error {
	ident, err := s.deps.Store.Identity(ctx, id)
	if err != nil {
		return err
	}
	err = s.deps.Store.DeleteIdentity(ctx, id, s.deliveries(EventIdentityErased, "", map[string]any{"identity_id": id})...)
	// Even after an error: it may have been erased all the same (a reply lost in a timeout).
	s.identityChanged(ctx, id)
	if err != nil {
		return err
	}
	if ident.ConnectionID != "" {
		if err := s.deps.Wallets.RemoveConnection(ctx, ident.ConnectionID); err != nil && !errors.Is(err, didcomm.ErrUnknownConnection) {
			s.log.Error("erased identity's connection not removed", "identity_id", id, "err", err)
		}
	}
	s.log.Info("identity erased", "identity_id", id)
	return nil
}

// Connections lists the DIDComm connections wallets opened with this service.
func (s *Service) Connections(ctx context.Context) ([]didcomm.ConnectionInfo, error) {
	return s.deps.Wallets.Connections(ctx)
}

// VerifyConnection asks a returning customer for a fresh proof over the private connection
// they already have with this service — no QR code. It returns the new session, already
// requested (or rejected at once if the wallet cannot be reached).
func (s *Service) VerifyConnection(ctx context.Context, connectionID, policy string) (*Session, error) {
	if policy == "" {
		policy = s.cfg.DefaultPolicy
	}
	if _, ok := s.cfg.Policies[policy]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPolicy, policy)
	}
	conn, err := s.deps.Wallets.Connection(ctx, connectionID)
	if errors.Is(err, didcomm.ErrUnknownConnection) {
		return nil, fmt.Errorf("connection %s: %w", connectionID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if !conn.Completed() {
		return nil, fmt.Errorf("%w: connection %s is %s, not completed", ErrInvalidInput, connectionID, conn.State)
	}
	now := s.now()
	sess := &Session{
		ID:               s.ids.next(now),
		Status:           StatusCreated,
		Policy:           policy,
		Nonce:            newNonce(),
		ConfirmationCode: confirm.New(),
		ConnectionID:     connectionID,
		CreatedAt:        now,
		UpdatedAt:        now,
		ExpiresAt:        now.Add(s.cfg.SessionTTL),
		Version:          1,
	}
	if err := s.deps.Store.CreateSession(ctx, sess); err != nil {
		return nil, fmt.Errorf("store session: %w", err)
	}
	s.publish(ctx, sess)
	if sess, err = s.transition(ctx, sess.ID, Transition{From: []Status{StatusCreated}, To: StatusConnected}); err != nil {
		return nil, err
	}
	return s.request(ctx, sess)
}

// request asks the wallet on the session's connection for a presentation: the thread is
// recorded before the request leaves, so the answer always finds its session.
func (s *Service) request(ctx context.Context, sess *Session) (*Session, error) {
	threadID := uuid.NewString()
	sess, err := s.transition(ctx, sess.ID, Transition{
		From:  []Status{StatusConnected},
		To:    StatusRequested,
		Apply: func(x *Session) { x.ThreadID = threadID },
	})
	if err != nil {
		return nil, err
	}
	policy := s.cfg.Policies[sess.Policy]
	_, err = s.deps.Wallets.RequestPresentation(ctx, sess.ConnectionID, threadID, didcomm.PresentationRequest{
		Comment:          policy.Purpose,
		ConfirmationCode: sess.ConfirmationCode,
		Definition:       policy.PresentationDefinition(sess.ID),
		Challenge:        sess.Nonce,
		Domain:           s.cfg.Domain,
	})
	if err != nil {
		s.log.Warn("presentation request not delivered", "session_id", sess.ID, "err", err)
		s.rejectSession(ctx, sess.ID, ReasonWalletUnreachable)
		return s.deps.Store.Session(ctx, sess.ID)
	}
	return sess, nil
}
