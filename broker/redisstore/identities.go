package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
)

// listBudget is how many index entries one ListIdentities script call looks at, at most, so
// that a selective filter over a large index never blocks Redis for long.
const listBudget = 1024

// Identity returns the identity with that ID, or an error matching broker.ErrNotFound.
func (s *Store) Identity(ctx context.Context, id string) (*broker.Identity, error) {
	return get(ctx, s, "identity", id, s.keys.identity(id), identityOf)
}

// IdentityByFlex returns the identity whose FlexIdentity is flexIdentity, or an error matching
// broker.ErrNotFound. One round trip.
func (s *Store) IdentityByFlex(ctx context.Context, flexIdentity string) (*broker.Identity, error) {
	return getVia(ctx, s, "identity", "flex identity", flexIdentity, s.keys.flex(flexIdentity), s.keys.identityPrefix(), identityOf)
}

// identityOf decodes the record of identity id.
func identityOf(id string, rec []byte) (*broker.Identity, error) {
	ident, err := decodeIdentityOnly(id, rec)
	if err != nil {
		return nil, fmt.Errorf("redisstore: identity %q: %w", id, err)
	}
	return ident, nil
}

// ListIdentities returns up to limit identities matching f in ascending ID order, starting
// after the ID after (see broker.Store). It walks the smallest of the indexes f names (issuer,
// credential type, claims; the set of all IDs if it names none) in ID order and keeps the IDs
// present in all of them, in a script that returns them with their records; every identity is
// then checked with f.Match (which alone decides VerifiedSince and VerifiedUntil). A page costs
// one round trip unless the time bounds or the intersection drop many candidates.
func (s *Store) ListIdentities(ctx context.Context, f broker.IdentityFilter, after string, limit int) ([]*broker.Identity, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("redisstore: list identities: limit %d is not positive", limit)
	}
	var keys []string
	var ixArgs []any
	for _, ix := range s.keys.filterIndexes(f) {
		keys = append(keys, ix.key)
		ixArgs = ix.args(ixArgs)
	}
	var out []*broker.Identity
	cursor := after
	for len(out) < limit {
		args := append([]any{cursor, limit - len(out), listBudget, s.keys.identityPrefix(), s.keys.b}, ixArgs...)
		res, err := scriptListIdentities.Run(ctx, s.client, keys, args...).Slice()
		if err != nil {
			return nil, s.errf(err, "list identities")
		}
		if len(res) < 2 || len(res)%2 != 0 {
			return nil, fmt.Errorf("redisstore: list identities: unexpected script answer of %d items", len(res))
		}
		for i := 2; i < len(res) && len(out) < limit; i += 2 {
			id, _ := res[i].(string)
			rec, _ := res[i+1].(string)
			ident, err := identityOf(id, []byte(rec))
			if err != nil {
				return nil, err
			}
			if f.Match(ident) {
				out = append(out, ident)
			}
		}
		last, _ := res[0].(string)
		if ended, _ := res[1].(string); ended == "1" || last == "" {
			break
		}
		cursor = last
	}
	return out, nil
}

// DeleteIdentity erases the identity, its flex identity index entry, its entries in every
// identity index, every reference to it in the sessions that verified it (their IdentityID,
// ConnectionID and Chat are cleared and their Version incremented; status, UpdatedAt and expiry
// are kept) and every delivery about it (Subject id), queued or dead, found through its subject
// set; and queues the notify deliveries, kept whatever their Subject; atomically, in two round
// trips: a script reads the identity and its sessions (the record lists them), and a second one
// erases, removes, rewrites and queues only if none of them changed in between (otherwise
// DeleteIdentity reads again). The deliveries are checked as Transition checks t.Outbox, against
// the deliveries stored before the erasure: a notify delivery may not take the ID of one the
// erasure removes.
func (s *Store) DeleteIdentity(ctx context.Context, id string, notify ...broker.Delivery) error {
	return s.deleteIdentity(ctx, id, nil, notify)
}

// deleteIdentity is DeleteIdentity that, with e, also plans and stores the erasure record (see
// EraseIdentity).
func (s *Store) deleteIdentity(ctx context.Context, id string, e *broker.Erasure, notify []broker.Delivery) error {
	if id == "" {
		return fmt.Errorf("redisstore: delete identity: empty ID: %w", broker.ErrNotFound)
	}
	outboxKeys, outboxArgs, err := s.outboxArgs(notify)
	if err != nil {
		return fmt.Errorf("redisstore: delete identity %q: %w", id, err)
	}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err := backoff(ctx, attempt); err != nil {
			return fmt.Errorf("redisstore: delete identity %q: %w", id, err)
		}
		err := s.tryDeleteIdentity(ctx, id, e, outboxKeys, outboxArgs)
		if !errors.Is(err, errStale) {
			return err
		}
	}
	return fmt.Errorf("redisstore: delete identity %q: %w", id, ErrContention)
}

func (s *Store) tryDeleteIdentity(ctx context.Context, id string, e *broker.Erasure, outboxKeys []string, outboxArgs []any) error {
	k := s.keys
	res, err := scriptIdentityRead.Run(ctx, s.client, []string{k.identity(id)}, k.sessionPrefix()).Slice()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("redisstore: identity %q: %w", id, broker.ErrNotFound)
	}
	if err != nil {
		return s.errf(err, "delete identity %q", id)
	}
	if len(res)%2 != 1 {
		return fmt.Errorf("redisstore: delete identity %q: unexpected script answer of %d items", id, len(res))
	}
	rec, _ := res[0].(string)
	ident, err := decodeIdentityOnly(id, []byte(rec))
	if err != nil {
		return fmt.Errorf("redisstore: delete identity %q: %w", id, err)
	}
	keys := []string{k.identity(id), k.flex(ident.FlexIdentity), k.identityIDs(),
		k.outboxSubject(id), k.outboxDue(), k.deadLetters()}
	var rewrites []any
	var scrubbed []*broker.Session
	for i := 1; i < len(res); i += 2 {
		sid, _ := res[i].(string)
		raw, ok := res[i+1].(string)
		if !ok {
			continue // expired
		}
		sess, err := decodeSession([]byte(raw))
		if err != nil {
			return fmt.Errorf("redisstore: session %q: %w", sid, err)
		}
		if sess.IdentityID != id {
			continue // verified another identity since
		}
		before := *sess
		scrubbed = append(scrubbed, &before)
		sess.IdentityID, sess.ConnectionID, sess.Chat = "", "", nil
		sess.Version++
		val, err := encodeSession(sess)
		if err != nil {
			return fmt.Errorf("redisstore: session %q: %w", sid, err)
		}
		keys = append(keys, k.session(sid))
		rewrites = append(rewrites, raw[:sessionHeaderLen], val, s.expiry(sess))
	}
	indexes := k.identityIndexes(ident)
	args := append([]any{rec, id, len(rewrites) / 3, len(indexes), k.outboxPrefix(), k.deadLetterPrefix(), k.b}, rewrites...)
	keys, args = appendWrites(keys, args, indexes, outboxKeys, outboxArgs)
	if e != nil {
		e.Plan(ident, scrubbed)
		rec, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("redisstore: erasure of %q: %w", id, err)
		}
		keys = append(keys, k.erasure(e.Key))
		args = append(args, rec, e.ExpiresAt.UnixMilli())
	}
	status, err := scriptDeleteIdentity.Run(ctx, s.client, keys, args...).Text()
	if err != nil {
		return s.errf(err, "delete identity %q", id)
	}
	switch status {
	case statusOK:
		return nil
	case statusNotFound:
		return fmt.Errorf("redisstore: identity %q: %w", id, broker.ErrNotFound)
	case statusStale:
		return errStale
	case statusDelivery:
		return fmt.Errorf("redisstore: delete identity %q: a delivery's ID is queued or dead already: %w", id, broker.ErrExists)
	}
	return fmt.Errorf("redisstore: delete identity %q: unexpected script answer %q", id, status)
}
