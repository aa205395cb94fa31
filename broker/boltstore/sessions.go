package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/storekit"
	bolt "go.etcd.io/bbolt"
)

// CreateSession stores a new session with Version 1; s itself is not modified. It fails with
// broker.ErrExists if the ID, the invitation ID or the thread ID is taken.
func (db *DB) CreateSession(ctx context.Context, s *broker.Session) error {
	if s == nil {
		return errors.New("boltstore: create session: nil session")
	}
	if s.ID == "" {
		return errors.New("boltstore: create session: empty session ID")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: create session %q: %w", s.ID, err)
	}
	rec := *s
	rec.Version = 1
	val, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("boltstore: create session %q: %w", s.ID, err)
	}
	return db.update(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		if sessions.Get([]byte(rec.ID)) != nil {
			return fmt.Errorf("boltstore: session %q: %w", rec.ID, broker.ErrExists)
		}
		if err := claim(tx.Bucket(bucketByInvitation), "invitation", rec.InvitationID, rec.ID); err != nil {
			return err
		}
		if err := claim(tx.Bucket(bucketByThread), "thread", rec.ThreadID, rec.ID); err != nil {
			return err
		}
		if err := sessions.Put([]byte(rec.ID), val); err != nil {
			return fmt.Errorf("boltstore: create session %q: %w", rec.ID, err)
		}
		if err := indexSweep(tx, nil, &rec); err != nil {
			return fmt.Errorf("boltstore: create session %q: %w", rec.ID, err)
		}
		return nil
	})
}

// Session returns the session with that ID, or an error matching broker.ErrNotFound.
func (db *DB) Session(ctx context.Context, id string) (*broker.Session, error) {
	return db.sessionBy(ctx, nil, "session", id)
}

// SessionByInvitation returns the session whose InvitationID is invitationID, or an error
// matching broker.ErrNotFound.
func (db *DB) SessionByInvitation(ctx context.Context, invitationID string) (*broker.Session, error) {
	return db.sessionBy(ctx, bucketByInvitation, "invitation", invitationID)
}

// SessionByThread returns the session whose ThreadID is threadID, or an error matching
// broker.ErrNotFound.
func (db *DB) SessionByThread(ctx context.Context, threadID string) (*broker.Session, error) {
	return db.sessionBy(ctx, bucketByThread, "thread", threadID)
}

// sessionBy looks key up in the index bucket (or directly by session ID if index is nil).
func (db *DB) sessionBy(ctx context.Context, index []byte, what, key string) (*broker.Session, error) {
	return lookup[broker.Session](ctx, db, bucketSessions, "session", index, what, what+" ID", key)
}

// lookup reads the record of kind ("session", "identity") in the records bucket that key leads
// to: through the index bucket if there is one, else directly. Errors call key what, or label
// where they say what it is ("invitation" ID, "flex identity"); an empty key is
// broker.ErrNotFound.
func lookup[T any](ctx context.Context, db *DB, records []byte, kind string, index []byte, what, label, key string) (*T, error) {
	if key == "" {
		return nil, fmt.Errorf("boltstore: empty %s: %w", label, broker.ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: %s %q: %w", what, key, err)
	}
	var v T
	err := db.view(func(tx *bolt.Tx) error {
		id := []byte(key)
		if index != nil {
			if id = tx.Bucket(index).Get(id); id == nil {
				return fmt.Errorf("boltstore: %s with %s %q: %w", kind, label, key, broker.ErrNotFound)
			}
		}
		return get(tx.Bucket(records), kind, id, &v)
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Transition applies t to the session atomically, in one write transaction: it reads the
// session, checks t.From, runs t.Apply once, upserts t.Identity, writes the session and its
// indexes and queues t.Outbox. See broker.Transition. On success t.Identity.ID is set to the
// stored identity's ID.
//
// Besides the errors of the contract, Transition fails without writing anything if t.To is not
// a valid status, if Apply changes ID, Status, Version or IdentityID, if t.Identity has no
// FlexIdentity (or is new and has no ID, or a new ID that another identity has), if Apply
// sets an invitation or thread ID that another session has (broker.ErrExists), or if a
// delivery of t.Outbox has no ID, a payload that is not JSON, or an ID that is queued, dead or
// given twice (broker.ErrExists).
func (db *DB) Transition(ctx context.Context, id string, t broker.Transition, now time.Time) (*broker.Session, error) {
	if err := storekit.CheckTransition(id, t); err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: transition of session %q: %w", id, err)
	}
	deliveries, err := encodeOutbox(t.Outbox)
	if err != nil {
		return nil, fmt.Errorf("boltstore: transition of session %q: %w", id, err)
	}
	var (
		out        []byte
		identityID string
	)
	err = db.update(func(tx *bolt.Tx) error {
		sessions := tx.Bucket(bucketSessions)
		var cur broker.Session
		if err := get(sessions, "session", []byte(id), &cur); err != nil {
			return err
		}
		if !t.Allows(cur.Status) {
			return &broker.StateError{SessionID: id, Current: cur.Status, To: t.To}
		}
		next := cur
		if err := t.ApplyTo(&cur, &next); err != nil {
			return fmt.Errorf("boltstore: %w", err)
		}
		next.Status = t.To
		next.Version = cur.Version + 1
		next.UpdatedAt = now
		if t.Identity != nil {
			var err error
			if identityID, err = putIdentity(tx, t.Identity); err != nil {
				return fmt.Errorf("boltstore: transition of session %q: %w", id, err)
			}
			next.IdentityID = identityID
			if err := tx.Bucket(bucketIdentitySess).Put(identitySessionKey(identityID, id), nil); err != nil {
				return fmt.Errorf("boltstore: transition of session %q: %w", id, err)
			}
		}
		if err := move(tx.Bucket(bucketByInvitation), "invitation", cur.InvitationID, next.InvitationID, id); err != nil {
			return err
		}
		if err := move(tx.Bucket(bucketByThread), "thread", cur.ThreadID, next.ThreadID, id); err != nil {
			return err
		}
		var err error
		if out, err = json.Marshal(&next); err != nil {
			return fmt.Errorf("boltstore: transition of session %q: %w", id, err)
		}
		if err := sessions.Put([]byte(id), out); err != nil {
			return fmt.Errorf("boltstore: transition of session %q: %w", id, err)
		}
		if err := indexSweep(tx, &cur, &next); err != nil {
			return fmt.Errorf("boltstore: transition of session %q: %w", id, err)
		}
		if err := putOutbox(tx, t.Outbox, deliveries); err != nil {
			return fmt.Errorf("boltstore: transition of session %q: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.Identity != nil {
		t.Identity.ID = identityID
	}
	// Decode what was written, so the caller's copy is exactly the stored one and shares no
	// memory with anything Apply may have kept.
	var s broker.Session
	if err := json.Unmarshal(out, &s); err != nil {
		return nil, fmt.Errorf("boltstore: transition of session %q: %w", id, err)
	}
	return &s, nil
}

// putIdentity upserts in keyed by its FlexIdentity and returns the stored identity's ID.
func putIdentity(tx *bolt.Tx, in *broker.Identity) (string, error) {
	identities, byFlex := tx.Bucket(bucketIdentities), tx.Bucket(bucketByFlex)
	rec := *in
	if existing := byFlex.Get([]byte(in.FlexIdentity)); existing != nil {
		var old broker.Identity
		if err := get(identities, "identity", existing, &old); err != nil {
			return "", fmt.Errorf("flex identity %q: index is inconsistent: %w", in.FlexIdentity, err)
		}
		rec.ID, rec.CreatedAt = old.ID, old.CreatedAt
	} else {
		if rec.ID == "" {
			return "", fmt.Errorf("new identity for flex identity %q has an empty ID", in.FlexIdentity)
		}
		if identities.Get([]byte(rec.ID)) != nil {
			return "", fmt.Errorf("identity %q (for another flex identity): %w", rec.ID, broker.ErrExists)
		}
		if err := byFlex.Put([]byte(rec.FlexIdentity), []byte(rec.ID)); err != nil {
			return "", fmt.Errorf("flex identity %q: %w", rec.FlexIdentity, err)
		}
	}
	val, err := json.Marshal(&rec)
	if err != nil {
		return "", fmt.Errorf("identity %q: %w", rec.ID, err)
	}
	if err := identities.Put([]byte(rec.ID), val); err != nil {
		return "", fmt.Errorf("identity %q: %w", rec.ID, err)
	}
	return rec.ID, nil
}

// Identity returns the identity with that ID, or an error matching broker.ErrNotFound.
func (db *DB) Identity(ctx context.Context, id string) (*broker.Identity, error) {
	return db.identityBy(ctx, nil, "identity", id)
}

// IdentityByFlex returns the identity whose FlexIdentity is flexIdentity, or an error matching
// broker.ErrNotFound.
func (db *DB) IdentityByFlex(ctx context.Context, flexIdentity string) (*broker.Identity, error) {
	return db.identityBy(ctx, bucketByFlex, "flex identity", flexIdentity)
}

func (db *DB) identityBy(ctx context.Context, index []byte, what, key string) (*broker.Identity, error) {
	return lookup[broker.Identity](ctx, db, bucketIdentities, "identity", index, what, what, key)
}

// Secret returns the secret stored under name, creating it with generate the first time.
// generate runs outside any transaction, so concurrent first callers may each run it, but only
// the first value written is kept and every caller gets that one. Once the secret exists,
// generate is never called. The returned slice belongs to the caller.
func (db *DB) Secret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	if name == "" {
		return nil, errors.New("boltstore: secret: empty name")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: secret %q: %w", name, err)
	}
	var got []byte
	err := db.view(func(tx *bolt.Tx) error {
		got = bytes.Clone(tx.Bucket(bucketSecrets).Get([]byte(name)))
		return nil
	})
	if err != nil || got != nil {
		return got, err
	}
	fresh, err := storekit.NewSecret(name, generate)
	if err != nil {
		return nil, fmt.Errorf("boltstore: %w", err)
	}
	err = db.update(func(tx *bolt.Tx) error {
		secrets := tx.Bucket(bucketSecrets)
		if v := secrets.Get([]byte(name)); v != nil {
			got = bytes.Clone(v)
			return nil
		}
		got = bytes.Clone(fresh)
		if err := secrets.Put([]byte(name), got); err != nil {
			return fmt.Errorf("boltstore: secret %q: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return bytes.Clone(got), nil
}

// Ping reports whether the file is open and readable; after Close it fails with an error
// matching broker.ErrUnavailable.
func (db *DB) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: ping: %w", err)
	}
	return db.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSessions) == nil {
			return fmt.Errorf("boltstore: %s: sessions bucket missing: %w", db.path, broker.ErrUnavailable)
		}
		return nil
	})
}

// get decodes the JSON value under key into v, or fails with broker.ErrNotFound.
func get(b *bolt.Bucket, what string, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return fmt.Errorf("boltstore: %s %q: %w", what, key, broker.ErrNotFound)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("boltstore: %s %q: decoding: %w", what, key, err)
	}
	return nil
}

// claim points the index entry key at owner; an entry of another owner is broker.ErrExists.
// Empty keys are not indexed.
func claim(index *bolt.Bucket, what, key, owner string) error {
	if key == "" {
		return nil
	}
	if cur := index.Get([]byte(key)); cur != nil && string(cur) != owner {
		return fmt.Errorf("boltstore: %s ID %q is used by session %q: %w", what, key, cur, broker.ErrExists)
	}
	if err := index.Put([]byte(key), []byte(owner)); err != nil {
		return fmt.Errorf("boltstore: %s ID %q: %w", what, key, err)
	}
	return nil
}

// move re-points owner's index entry from key from to key to. The old entry is removed only if
// it still belongs to owner.
func move(index *bolt.Bucket, what, from, to, owner string) error {
	if from == to {
		return nil
	}
	if err := claim(index, what, to, owner); err != nil {
		return err
	}
	if from != "" && string(index.Get([]byte(from))) == owner {
		if err := index.Delete([]byte(from)); err != nil {
			return fmt.Errorf("boltstore: %s ID %q: %w", what, from, err)
		}
	}
	return nil
}
