package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
)

// ListIdentities walks the identities bucket in key (ID) order from just after `after`,
// returning up to limit identities that match f. The embedded store keeps no secondary
// indexes beyond flex identity: a filtered listing reads every identity after the cursor
// until it has limit matches, which is fine at a single node's scale.
func (db *DB) ListIdentities(ctx context.Context, f broker.IdentityFilter, after string, limit int) ([]*broker.Identity, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("boltstore: list identities: limit %d is not positive", limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: list identities: %w", err)
	}
	var out []*broker.Identity
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketIdentities).Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && bytes.Equal(k, []byte(after)) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var ident broker.Identity
			if err := json.Unmarshal(v, &ident); err != nil {
				return fmt.Errorf("boltstore: identity %q: decoding: %w", k, err)
			}
			if f.Match(&ident) {
				out = append(out, &ident)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteIdentity removes the identity, its flex identity index entry, every reference to it in
// the sessions that verified it and every delivery about it (Subject id), queued or dead, and
// queues the notify deliveries (kept whatever their Subject), in one transaction. The
// deliveries are checked as Transition checks t.Outbox, against the deliveries stored before
// the erasure: a notify delivery may not take the ID of one the erasure removes.
func (db *DB) DeleteIdentity(ctx context.Context, id string, notify ...broker.Delivery) error {
	return db.deleteIdentity(ctx, id, nil, notify)
}

// deleteIdentity is DeleteIdentity that, with e, also plans and stores the erasure record (see
// EraseIdentity).
func (db *DB) deleteIdentity(ctx context.Context, id string, e *broker.Erasure, notify []broker.Delivery) error {
	if id == "" {
		return fmt.Errorf("boltstore: delete identity: empty ID: %w", broker.ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: delete identity %q: %w", id, err)
	}
	deliveries, err := encodeOutbox(notify)
	if err != nil {
		return fmt.Errorf("boltstore: delete identity %q: %w", id, err)
	}
	return db.update(func(tx *bolt.Tx) error {
		identities := tx.Bucket(bucketIdentities)
		var ident broker.Identity
		if err := get(identities, "identity", []byte(id), &ident); err != nil {
			return err
		}
		if err := checkOutbox(tx, notify); err != nil {
			return fmt.Errorf("boltstore: delete identity %q: %w", id, err)
		}
		if err := removeSubject(tx, id); err != nil {
			return err
		}
		byFlex := tx.Bucket(bucketByFlex)
		if owner := byFlex.Get([]byte(ident.FlexIdentity)); owner != nil && string(owner) == id {
			if err := byFlex.Delete([]byte(ident.FlexIdentity)); err != nil {
				return fmt.Errorf("boltstore: delete identity %q: %w", id, err)
			}
		}
		if err := identities.Delete([]byte(id)); err != nil {
			return fmt.Errorf("boltstore: delete identity %q: %w", id, err)
		}
		scrubbed, err := scrubSessions(tx, id)
		if err != nil {
			return err
		}
		if e != nil {
			e.Plan(&ident, scrubbed)
			if err := putErasure(tx, e); err != nil {
				return fmt.Errorf("boltstore: delete identity %q: %w", id, err)
			}
		}
		if err := putOutbox(tx, notify, deliveries); err != nil {
			return fmt.Errorf("boltstore: delete identity %q: %w", id, err)
		}
		return nil
	})
}

// identitySessionKey is the key recording that session verified identity.
func identitySessionKey(identity, session string) []byte {
	return append(append([]byte(identity), 0), session...)
}

// scrubSessions clears every reference to identity from the sessions that verified it, and
// returns those sessions as they were before.
func scrubSessions(tx *bolt.Tx, identity string) ([]*broker.Session, error) {
	links, sessions := tx.Bucket(bucketIdentitySess), tx.Bucket(bucketSessions)
	prefix := append([]byte(identity), 0)
	var keys [][]byte
	c := links.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	var scrubbed []*broker.Session
	for _, k := range keys {
		sid := k[len(prefix):]
		var s broker.Session
		err := get(sessions, "session", sid, &s)
		switch {
		case errors.Is(err, broker.ErrNotFound):
		case err != nil:
			return nil, err
		case s.IdentityID == identity:
			before := s
			scrubbed = append(scrubbed, &before)
			s.IdentityID, s.ConnectionID, s.Chat = "", "", nil
			s.Version++
			val, err := json.Marshal(&s)
			if err != nil {
				return nil, err
			}
			if err := sessions.Put(sid, val); err != nil {
				return nil, fmt.Errorf("boltstore: scrub session %q: %w", sid, err)
			}
		}
		if err := links.Delete(k); err != nil {
			return nil, fmt.Errorf("boltstore: scrub session %q: %w", sid, err)
		}
	}
	return scrubbed, nil
}
