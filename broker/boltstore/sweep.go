package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
)

// The broker's sweep reads two indexes of sessions, each keyed by the session's ExpiresAt
// (8 bytes, sortable) followed by its ID, with an empty value: sessions that still wait (can
// expire), and verified sessions (wait for their chat). CreateSession and Transition keep them;
// Open builds them for a file written before they existed.
var (
	bucketSessionsDue  = []byte("sessions_due")
	bucketAwaitingChat = []byte("sessions_awaiting_chat")
)

// sweepKey is a session's key in the sweep indexes.
func sweepKey(s *broker.Session) []byte {
	k := make([]byte, 8, 8+len(s.ID))
	if !s.ExpiresAt.IsZero() {
		// Flipping the sign bit orders negative Unix times (before 1970) first.
		binary.BigEndian.PutUint64(k, uint64(s.ExpiresAt.UnixNano())^1<<63)
	}
	return append(k, s.ID...)
}

// waits reports whether a session in status st can still expire.
func waits(st broker.Status) bool { return !st.Terminal() && st != broker.StatusBound }

// indexSweep moves a session from where its old state put it in the sweep indexes (old nil:
// nowhere) to where next puts it.
func indexSweep(tx *bolt.Tx, old, next *broker.Session) error {
	due, awaiting := tx.Bucket(bucketSessionsDue), tx.Bucket(bucketAwaitingChat)
	if old != nil {
		k := sweepKey(old)
		if err := due.Delete(k); err != nil {
			return err
		}
		if err := awaiting.Delete(k); err != nil {
			return err
		}
	}
	k := sweepKey(next)
	if waits(next.Status) && !next.ExpiresAt.IsZero() {
		if err := due.Put(k, nil); err != nil {
			return err
		}
	}
	if next.Status == broker.StatusVerified {
		return awaiting.Put(k, nil)
	}
	return nil
}

// buildSweepIndexes indexes every stored session, for a file written before the indexes.
func buildSweepIndexes(tx *bolt.Tx) error {
	return tx.Bucket(bucketSessions).ForEach(func(id, v []byte) error {
		var s broker.Session
		if err := json.Unmarshal(v, &s); err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
		return indexSweep(tx, nil, &s)
	})
}

// SessionsDue returns the IDs of up to limit sessions that still wait and whose ExpiresAt is
// not after now, earliest first.
func (db *DB) SessionsDue(ctx context.Context, now time.Time, limit int) ([]string, error) {
	until := sweepKey(&broker.Session{ExpiresAt: now})
	return db.sweepIDs(ctx, bucketSessionsDue, "sessions due", limit, func(k []byte) bool {
		return bytes.Compare(k[:8], until[:8]) <= 0
	})
}

// SessionsAwaitingChat returns the IDs of up to limit verified sessions, earliest ExpiresAt
// first.
func (db *DB) SessionsAwaitingChat(ctx context.Context, limit int) ([]string, error) {
	return db.sweepIDs(ctx, bucketAwaitingChat, "sessions awaiting a chat", limit, func([]byte) bool { return true })
}

func (db *DB) sweepIDs(ctx context.Context, bucket []byte, what string, limit int, in func(k []byte) bool) ([]string, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("boltstore: %s: limit %d is not positive", what, limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: %s: %w", what, err)
	}
	var ids []string
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.First(); k != nil && len(ids) < limit && in(k); k, _ = c.Next() {
			ids = append(ids, string(k[8:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: %s: %w", what, err)
	}
	return ids, nil
}
