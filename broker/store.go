package broker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Errors stores and the service return. Callers match them with errors.Is.
var (
	// ErrNotFound: no record with that key.
	ErrNotFound = errors.New("not found")
	// ErrExists: a record with that key already exists.
	ErrExists = errors.New("already exists")
	// ErrUnavailable: the store cannot be reached right now; the operation may be retried.
	ErrUnavailable = errors.New("store unavailable")
)

// StateError is returned when a transition is asked of a session that is not in one of the
// states the transition starts from. It matches ErrConflict with errors.Is.
type StateError struct {
	SessionID string
	Current   Status
	To        Status
}

// ErrConflict is matched by every *StateError.
var ErrConflict = errors.New("conflicting session state")

func (e *StateError) Error() string {
	return fmt.Sprintf("session %s is %s and cannot become %s", e.SessionID, e.Current, e.To)
}

// Is makes errors.Is(err, ErrConflict) true for state errors.
func (e *StateError) Is(target error) bool { return target == ErrConflict }

// Transition is an atomic, conditional change of one session, optionally together with the
// upsert of the identity it verified.
type Transition struct {
	// From lists the states the session must be in; anything else fails with *StateError and
	// writes nothing.
	From []Status
	// To is the state the session is in afterwards.
	To Status
	// Apply, if set, changes other fields of the session. It runs inside the store's atomic
	// step, may run more than once when the store retries an optimistic write, and must not do
	// I/O. It must not change ID, Status, Version, IdentityID or ConfirmationCode.
	Apply func(*Session)
	// Identity, if set, is stored in the same atomic step. Identities are keyed by
	// FlexIdentity: if one already exists for it, the stored record keeps its ID and CreatedAt
	// and takes every other field from Identity. The session's IdentityID is set to the stored
	// identity's ID, and Identity.ID is updated to match.
	Identity *Identity
	// Outbox, if set, are webhook deliveries queued in the same atomic step (see Outbox):
	// stored, due at their NextAttempt, only if the transition is.
	Outbox []Delivery
}

// Allows reports whether the transition can start from status s.
func (t Transition) Allows(s Status) bool { return slices.Contains(t.From, s) }

// ApplyTo runs Apply, if set, on next, a copy of the stored session cur that shares no memory
// with it, and refuses what Apply must not change (ID, Status, Version, IdentityID, and
// ConfirmationCode, which the customer compares with their wallet's): the stores call it
// inside their atomic step.
func (t Transition) ApplyTo(cur, next *Session) error {
	if t.Apply == nil {
		return nil
	}
	t.Apply(next)
	var changed string
	switch {
	case next.ID != cur.ID:
		changed = "ID"
	case next.Status != cur.Status:
		changed = "Status"
	case next.Version != cur.Version:
		changed = "Version"
	case next.IdentityID != cur.IdentityID:
		changed = "IdentityID"
	case next.ConfirmationCode != cur.ConfirmationCode:
		changed = "ConfirmationCode"
	default:
		return nil
	}
	return fmt.Errorf("transition of session %q: Apply changed %s, which only the store sets", cur.ID, changed)
}

// Store keeps sessions, identities and the service's own secrets. Implementations are safe for
// concurrent use by many goroutines and, for shared stores, by many service instances: every
// method is atomic on its own.
//
// Implementations live in their own packages (boltstore, redisstore) and must pass the
// conformance suite in broker/storetest.
type Store interface {
	// CreateSession stores a new session with Version 1. It fails with ErrExists if the ID or
	// the invitation ID is taken.
	CreateSession(ctx context.Context, s *Session) error
	// Session returns the session with that ID, or ErrNotFound.
	Session(ctx context.Context, id string) (*Session, error)
	// SessionByInvitation returns the session whose InvitationID is id, or ErrNotFound.
	SessionByInvitation(ctx context.Context, invitationID string) (*Session, error)
	// SessionByThread returns the session whose ThreadID is id, or ErrNotFound.
	SessionByThread(ctx context.Context, threadID string) (*Session, error)
	// Transition applies t to the session atomically (see Transition) and returns the stored
	// result, with Version incremented and UpdatedAt set to now. Indexes (invitation, thread)
	// follow the session's fields.
	Transition(ctx context.Context, id string, t Transition, now time.Time) (*Session, error)

	// SessionsDue returns the IDs of up to limit sessions that still wait (created, invited,
	// connected, requested or verified) and whose ExpiresAt is not after now, earliest
	// ExpiresAt first. limit must be positive.
	SessionsDue(ctx context.Context, now time.Time, limit int) ([]string, error)
	// SessionsAwaitingChat returns the IDs of up to limit verified sessions (waiting for their
	// chat), earliest ExpiresAt first. limit must be positive.
	SessionsAwaitingChat(ctx context.Context, limit int) ([]string, error)

	// Identity returns the identity with that ID, or ErrNotFound.
	Identity(ctx context.Context, id string) (*Identity, error)
	// IdentityByFlex returns the identity whose FlexIdentity is flexIdentity, or ErrNotFound.
	IdentityByFlex(ctx context.Context, flexIdentity string) (*Identity, error)
	// ListIdentities returns up to limit identities matching f, in ascending ID order,
	// starting after the identity whose ID is after ("" for the start). Identity IDs are
	// ULIDs, so the order is creation order and paging by the last ID seen is stable under
	// inserts: nothing is skipped or returned twice. limit must be positive.
	ListIdentities(ctx context.Context, f IdentityFilter, after string, limit int) ([]*Identity, error)
	// DeleteIdentity erases an identity: the record, its claims, every index entry that leads
	// to it, and every reference to it in the sessions that verified it (their IdentityID,
	// ConnectionID and Chat are cleared, their Version incremented; their status is kept).
	// Every delivery whose Subject is id, queued or dead, goes too. Atomic, together with
	// queuing the notify deliveries (the erasure's own webhooks, which are kept whatever their
	// Subject). ErrNotFound if absent (and nothing is queued or removed).
	DeleteIdentity(ctx context.Context, id string, notify ...Delivery) error

	// LinkChat records that session sessionID is bound, or about to be, to the contact-centre
	// chat chatSID; until is the session's deadline (ExpiresAt), and the link is kept at least
	// as long as the store keeps that session. Linking twice is harmless.
	LinkChat(ctx context.Context, chatSID, sessionID string, until time.Time) error
	// SessionsByChat returns the stored sessions linked to chatSID whose Chat is that chat, in
	// no particular order (a returning customer's sessions can share one open chat).
	SessionsByChat(ctx context.Context, chatSID string) ([]*Session, error)

	// Secret returns the secret stored under name, creating it with generate the first time.
	// Concurrent callers (and instances) all get the same value.
	Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)

	// Ping reports whether the store is reachable (ErrUnavailable otherwise).
	Ping(ctx context.Context) error
}

// IdentityFilter selects identities; every set field must match, the zero value matches all.
type IdentityFilter struct {
	// Claims maps claim names to the exact value wanted, compared as text (a claim 12345
	// stored as a JSON number matches "12345").
	Claims map[string]string
	// Issuer and CredentialType match exactly.
	Issuer         string
	CredentialType string
	// VerifiedSince and VerifiedUntil bound VerifiedAt: since <= VerifiedAt < until.
	VerifiedSince time.Time
	VerifiedUntil time.Time
}

// Match reports whether ident satisfies f. Stores may use indexes to find candidates, but
// every identity they return satisfies Match.
func (f IdentityFilter) Match(ident *Identity) bool {
	if f.Issuer != "" && ident.IssuerDID != f.Issuer {
		return false
	}
	if f.CredentialType != "" && ident.CredentialType != f.CredentialType {
		return false
	}
	if !f.VerifiedSince.IsZero() && ident.VerifiedAt.Before(f.VerifiedSince) {
		return false
	}
	if !f.VerifiedUntil.IsZero() && !ident.VerifiedAt.Before(f.VerifiedUntil) {
		return false
	}
	for name, want := range f.Claims {
		v, ok := ident.Claims[name]
		if !ok || ClaimText(v) != want {
			return false
		}
	}
	return true
}

// ClaimText is the text form of a claim value used for matching and indexing: strings as
// they are, numbers and booleans in their JSON form, anything else (objects, lists, null) "".
func ClaimText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}
