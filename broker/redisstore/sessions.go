package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/storekit"
)

// maxAttempts bounds the optimistic retries of one Transition or DeleteIdentity. Each round of
// racers has a winner, so a caller loses at most once per concurrent writer of the same
// session; the bound only stops a pathological storm.
const maxAttempts = 100

// ErrContention is returned (wrapped) when an optimistic write lost maxAttempts races in a row.
var ErrContention = errors.New("too many concurrent writers of one record")

// backoff waits a little before the retry after the attempt-th lost race (0-based), spreading
// racers apart: nothing the first time, then random delays growing to 16 ms.
func backoff(ctx context.Context, attempt int) error {
	if attempt == 0 {
		return ctx.Err()
	}
	limit := time.Duration(1<<min(attempt, 5)) * 500 * time.Microsecond
	t := time.NewTimer(rand.N(limit) + 1)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// expiry returns when a session's keys expire, as PXAT wants it: Unix milliseconds of
// ExpiresAt + retention, or "0" (no expiry) for a session without ExpiresAt.
func (s *Store) expiry(sess *broker.Session) string {
	if sess.ExpiresAt.IsZero() {
		return "0"
	}
	return strconv.FormatInt(max(sess.ExpiresAt.Add(s.retention).UnixMilli(), 1), 10)
}

// CreateSession stores a new session with Version 1, with its invitation and thread index
// entries, in one script; s itself is not modified. It fails with broker.ErrExists if the ID,
// the invitation ID or the thread ID is taken. The keys expire at ExpiresAt + SessionRetention.
func (s *Store) CreateSession(ctx context.Context, sess *broker.Session) error {
	if sess == nil {
		return errors.New("redisstore: create session: nil session")
	}
	if sess.ID == "" {
		return errors.New("redisstore: create session: empty session ID")
	}
	rec := *sess
	rec.Version = 1
	val, err := encodeSession(&rec)
	if err != nil {
		return fmt.Errorf("redisstore: create session %q: %w", rec.ID, err)
	}
	k := s.keys
	due, chat := sweepChanges(nil, &rec)
	status, err := scriptCreateSession.Run(ctx, s.client,
		[]string{k.session(rec.ID), k.invitation(rec.InvitationID), k.thread(rec.ThreadID)},
		val, s.expiry(&rec), rec.ID, rec.InvitationID, rec.ThreadID, k.b, due, chat).Text()
	if err != nil {
		return s.errf(err, "create session %q", rec.ID)
	}
	switch status {
	case statusOK:
		return nil
	case statusSession:
		return fmt.Errorf("redisstore: session %q: %w", rec.ID, broker.ErrExists)
	case statusInvitation:
		return fmt.Errorf("redisstore: invitation ID %q is used by another session: %w", rec.InvitationID, broker.ErrExists)
	case statusThread:
		return fmt.Errorf("redisstore: thread ID %q is used by another session: %w", rec.ThreadID, broker.ErrExists)
	}
	return fmt.Errorf("redisstore: create session %q: unexpected script answer %q", rec.ID, status)
}

// Session returns the session with that ID, or an error matching broker.ErrNotFound.
func (s *Store) Session(ctx context.Context, id string) (*broker.Session, error) {
	return get(ctx, s, "session", id, s.keys.session(id), sessionOf)
}

// SessionByInvitation returns the session whose InvitationID is invitationID, or an error
// matching broker.ErrNotFound. One round trip.
func (s *Store) SessionByInvitation(ctx context.Context, invitationID string) (*broker.Session, error) {
	return s.sessionVia(ctx, "invitation", invitationID, s.keys.invitation)
}

// SessionByThread returns the session whose ThreadID is threadID, or an error matching
// broker.ErrNotFound. One round trip.
func (s *Store) SessionByThread(ctx context.Context, threadID string) (*broker.Session, error) {
	return s.sessionVia(ctx, "thread", threadID, s.keys.thread)
}

func (s *Store) sessionVia(ctx context.Context, what, key string, index func(string) string) (*broker.Session, error) {
	return getVia(ctx, s, "session", what+" ID", key, index(key), s.keys.sessionPrefix(), sessionOf)
}

// sessionOf decodes the record of session id.
func sessionOf(id string, rec []byte) (*broker.Session, error) {
	sess, err := decodeSession(rec)
	if err != nil {
		return nil, fmt.Errorf("redisstore: session %q: %w", id, err)
	}
	return sess, nil
}

// get reads the record of the what ("session", "identity") with that id, under key, and
// decodes it; an empty id is broker.ErrNotFound.
func get[T any](ctx context.Context, s *Store, what, id, key string, decode func(id string, rec []byte) (T, error)) (T, error) {
	var none T
	if id == "" {
		return none, fmt.Errorf("redisstore: empty %s ID: %w", what, broker.ErrNotFound)
	}
	rec, err := s.client.Get(ctx, key).Bytes()
	if err != nil {
		return none, s.errf(err, "%s %q", what, id)
	}
	return decode(id, rec)
}

// getVia reads the record of the what that the index entry of key (label says what key is:
// "invitation ID", "flex identity") names, in one round trip (see via), and decodes it; an
// empty key is broker.ErrNotFound.
func getVia[T any](ctx context.Context, s *Store, what, label, key, index, recordPrefix string,
	decode func(id string, rec []byte) (T, error)) (T, error) {
	var none T
	if key == "" {
		return none, fmt.Errorf("redisstore: empty %s: %w", label, broker.ErrNotFound)
	}
	id, rec, err := s.via(ctx, index, recordPrefix)
	if err != nil {
		return none, s.errf(err, "%s with %s %q", what, label, key)
	}
	return decode(id, rec)
}

// via follows an index entry to the record it names, in one script.
func (s *Store) via(ctx context.Context, index, recordPrefix string) (id string, rec []byte, err error) {
	res, err := scriptVia.Run(ctx, s.client, []string{index}, recordPrefix).Slice()
	if err != nil {
		return "", nil, err
	}
	if len(res) != 2 {
		return "", nil, fmt.Errorf("unexpected script answer of %d items", len(res))
	}
	id, _ = res[0].(string)
	r, _ := res[1].(string)
	return id, []byte(r), nil
}

// Transition applies t to the session atomically (see broker.Transition) with optimistic
// concurrency, in two round trips when no other writer interferes:
//
//  1. a read script returns the session and, when t stores an identity, the identity that has
//     its flex identity (if any);
//  2. in Go, the From check, Apply and the identity merge run on what was read; a write script
//     then stores the result only if the session's version, the flex identity's index entry
//     and that identity's record are still the ones read, and only if the new invitation and
//     thread IDs are free — all in one atomic step, with every index entry and the deliveries
//     of t.Outbox (queued, due at their NextAttempt, only if the transition is stored).
//
// When something changed in between, Transition reads again and re-runs Apply (Apply may run
// more than once), backing off a little; after 100 lost races it gives up with ErrContention.
// On success t.Identity.ID is set to the stored identity's ID.
//
// Besides the errors of the contract, Transition fails without writing anything if t.To is not
// a valid status, if Apply changes ID, Status, Version or IdentityID, if t.Identity has no
// FlexIdentity (or is new and has no ID, or a new ID that another identity has:
// broker.ErrExists), if Apply sets an invitation or thread ID that another session has
// (broker.ErrExists), or if a delivery of t.Outbox has no ID, a payload that is not JSON, or an
// ID that is queued, dead or given twice (broker.ErrExists).
func (s *Store) Transition(ctx context.Context, id string, t broker.Transition, now time.Time) (*broker.Session, error) {
	if err := storekit.CheckTransition(id, t); err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	outboxKeys, outboxArgs, err := s.outboxArgs(t.Outbox)
	if err != nil {
		return nil, fmt.Errorf("redisstore: transition of session %q: %w", id, err)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err := backoff(ctx, attempt); err != nil {
			return nil, fmt.Errorf("redisstore: transition of session %q: %w", id, err)
		}
		out, identityID, err := s.tryTransition(ctx, id, t, now, outboxKeys, outboxArgs)
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if t.Identity != nil {
			t.Identity.ID = identityID
		}
		return out, nil
	}
	return nil, fmt.Errorf("redisstore: transition of session %q: %w", id, ErrContention)
}

// errStale: what an optimistic write was based on changed; read again.
var errStale = errors.New("stale read")

// tryTransition makes one attempt; outboxKeys and outboxArgs queue t.Outbox (see outboxArgs).
func (s *Store) tryTransition(ctx context.Context, id string, t broker.Transition, now time.Time, outboxKeys []string, outboxArgs []any) (*broker.Session, string, error) {
	k := s.keys
	readKeys := []string{k.session(id)}
	if t.Identity != nil {
		readKeys = append(readKeys, k.flex(t.Identity.FlexIdentity))
	}
	res, err := scriptTransitionRead.Run(ctx, s.client, readKeys, k.identityPrefix(), k.sessionPrefix()).Slice()
	if errors.Is(err, redis.Nil) {
		return nil, "", fmt.Errorf("redisstore: session %q: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return nil, "", s.errf(err, "transition of session %q", id)
	}
	raw, _ := res[0].(string)
	cur, err := decodeSession([]byte(raw))
	if err != nil {
		return nil, "", fmt.Errorf("redisstore: session %q: %w", id, err)
	}
	if !t.Allows(cur.Status) {
		return nil, "", &broker.StateError{SessionID: id, Current: cur.Status, To: t.To}
	}
	// Apply works on its own copy, decoded again, so that it shares no memory with cur.
	next, _ := decodeSession([]byte(raw))
	if err := t.ApplyTo(cur, next); err != nil {
		return nil, "", fmt.Errorf("redisstore: %w", err)
	}
	next.Status = t.To
	next.Version = cur.Version + 1
	next.UpdatedAt = now

	mode, identityID, oldRec, newRec := "", "", "", []byte(nil)
	var oldIdx, newIdx []index
	identityKey := k.session(id) // placeholders for a transition without identity: same slot
	flexKey := identityKey
	if t.Identity != nil {
		rec := *t.Identity
		// The identity's record lists the sessions that verified it and still exist, this one
		// last.
		var sessions []string
		switch len(res) {
		case 4:
			oldRec, _ = res[2].(string)
			identityID, _ = res[1].(string)
			live, _ := res[3].(string)
			old, linked, err := decodeIdentityRecord(identityID, []byte(oldRec))
			if err != nil {
				return nil, "", fmt.Errorf("redisstore: identity %q: %w", identityID, err)
			}
			for i, sid := range linked {
				if i < len(live) && live[i] == '1' && sid != id {
					sessions = append(sessions, sid)
				}
			}
			rec.ID, rec.CreatedAt = old.ID, old.CreatedAt
			oldIdx = k.identityIndexes(old)
			mode = "update"
		case 3:
			identityID, _ = res[1].(string)
			return nil, "", fmt.Errorf("redisstore: flex identity %q: index names identity %q, which does not exist", rec.FlexIdentity, identityID)
		default:
			if rec.ID == "" {
				return nil, "", fmt.Errorf("redisstore: transition of session %q: new identity for flex identity %q has an empty ID", id, rec.FlexIdentity)
			}
			identityID = rec.ID
			mode = "new"
		}
		if newRec, err = encodeIdentityRecord(&rec, append(sessions, id)); err != nil {
			return nil, "", fmt.Errorf("redisstore: identity %q: %w", rec.ID, err)
		}
		// Index what a reader will decode, so that ListIdentities' index and Match agree.
		stored, err := decodeIdentityOnly(rec.ID, newRec)
		if err != nil {
			return nil, "", fmt.Errorf("redisstore: identity %q: %w", rec.ID, err)
		}
		newIdx = k.identityIndexes(stored)
		next.IdentityID = rec.ID
		identityKey, flexKey = k.identity(rec.ID), k.flex(rec.FlexIdentity)
	}
	val, err := encodeSession(next)
	if err != nil {
		return nil, "", fmt.Errorf("redisstore: transition of session %q: %w", id, err)
	}
	leave, join := indexChanges(oldIdx, newIdx)
	writeKeys := []string{
		k.session(id), k.invitation(cur.InvitationID), k.invitation(next.InvitationID),
		k.thread(cur.ThreadID), k.thread(next.ThreadID), flexKey, identityKey, k.identityIDs(),
	}
	args := []any{raw[:sessionHeaderLen], val, s.expiry(next), id,
		cur.InvitationID, next.InvitationID, cur.ThreadID, next.ThreadID,
		mode, identityID, oldRec, newRec, len(leave), len(join), k.b}
	due, chat := sweepChanges(cur, next)
	args = append(args, due, chat)
	writeKeys, args = appendWrites(writeKeys, args, append(leave, join...), outboxKeys, outboxArgs)
	status, err := scriptTransitionWrite.Run(ctx, s.client, writeKeys, args...).Text()
	if err != nil {
		return nil, "", s.errf(err, "transition of session %q", id)
	}
	switch status {
	case statusOK:
	case statusStale:
		return nil, "", errStale
	case statusNotFound:
		return nil, "", fmt.Errorf("redisstore: session %q: %w", id, broker.ErrNotFound)
	case statusInvitation:
		return nil, "", fmt.Errorf("redisstore: transition of session %q: invitation ID %q is used by another session: %w", id, next.InvitationID, broker.ErrExists)
	case statusThread:
		return nil, "", fmt.Errorf("redisstore: transition of session %q: thread ID %q is used by another session: %w", id, next.ThreadID, broker.ErrExists)
	case statusIdentityID:
		return nil, "", fmt.Errorf("redisstore: transition of session %q: identity %q (for another flex identity): %w", id, identityID, broker.ErrExists)
	case statusDelivery:
		return nil, "", fmt.Errorf("redisstore: transition of session %q: a delivery's ID is queued or dead already: %w", id, broker.ErrExists)
	default:
		return nil, "", fmt.Errorf("redisstore: transition of session %q: unexpected script answer %q", id, status)
	}
	// Return what was written, decoded, so the caller's copy shares nothing with Apply's.
	out, err := decodeSession(val)
	if err != nil {
		return nil, "", fmt.Errorf("redisstore: transition of session %q: %w", id, err)
	}
	return out, identityID, nil
}
