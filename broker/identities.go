package broker

import (
	"context"
	"errors"
	"fmt"
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
	items, err := s.store.ListIdentities(ctx, f, cursor, limit+1)
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

// Identity returns a verified identity.
func (s *Service) Identity(ctx context.Context, id string) (*Identity, error) {
	return s.store.Identity(ctx, id)
}

// IdentityByFlex returns the identity behind a chat pseudonym: what the agent's CRM panel
// asks when a chat arrives.
func (s *Service) IdentityByFlex(ctx context.Context, flexIdentity string) (*Identity, error) {
	return s.store.IdentityByFlex(ctx, flexIdentity)
}

// EraseIdentity forgets a customer: the identity record with its claims and indexes, and the
// DIDComm connection it was verified over. What remains is that an erasure happened (logged
// with the identity ID only) and, with a ChatEraser, the erasure's status (ErasureStatus) and,
// until the contact centre has erased the customer's chats, what that needs (erasure.go).
func (s *Service) EraseIdentity(ctx context.Context, id string) error {
	ident, err := s.deps.Store.Identity(ctx, id) // fresh: its connection is removed too
	if err != nil {
		return err
	}
	notify := s.deliveries(EventIdentityErased, "", map[string]any{"identity_id": id})
	if s.erasesChats() {
		err = s.eraseIdentity(ctx, id, notify)
	} else {
		err = s.store.DeleteIdentity(ctx, id, notify...)
	}
	if err != nil {
		return err
	}
	if ident.ConnectionID != "" {
		if err := s.deps.Wallets.RemoveConnection(ctx, ident.ConnectionID); err != nil && !errors.Is(err, ErrUnknownConnection) {
			s.log.Error("erased identity's connection not removed", "identity_id", id, "err", err)
		}
	}
	s.log.Info("identity erased", "identity_id", id)
	return nil
}
