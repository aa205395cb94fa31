package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/storekit"
)

var _ broker.Outbox = (*DB)(nil)

// dueLen is the length of the due-time part of an outbox_due key.
const dueLen = 12

// dueKey returns the outbox_due key of delivery id due at t: the instant as Unix seconds (8
// bytes, big endian, sign bit flipped so that times before 1970 sort first) and nanoseconds (4
// bytes, big endian), then the ID. Keys sort by (due time, ID) exactly, for any time.Time.
func dueKey(t time.Time, id string) []byte {
	k := make([]byte, dueLen, dueLen+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return append(k, id...)
}

// A delivery record is the length of its JSON (4 bytes, big endian), the JSON of the delivery
// without its payload, then the payload's bytes as they were given: a payload is the event as
// its receiver gets it, so it is kept byte for byte, not re-encoded. In the outbox bucket the
// record follows the delivery's current due time (the first dueLen bytes of its outbox_due key).

func encodeDelivery(d *broker.Delivery) ([]byte, error) {
	if err := storekit.CheckPayload(d); err != nil {
		return nil, err
	}
	meta := *d
	meta.Payload = nil
	j, err := json.Marshal(&meta)
	if err != nil {
		return nil, fmt.Errorf("delivery %q: %w", d.ID, err)
	}
	rec := make([]byte, 4, 4+len(j)+len(d.Payload))
	binary.BigEndian.PutUint32(rec, uint32(len(j)))
	return append(append(rec, j...), d.Payload...), nil
}

func decodeDelivery(rec []byte) (broker.Delivery, error) {
	var d broker.Delivery
	if len(rec) < 4 || uint64(len(rec)-4) < uint64(binary.BigEndian.Uint32(rec)) {
		return d, errors.New("corrupt delivery record")
	}
	n := 4 + int(binary.BigEndian.Uint32(rec))
	if err := json.Unmarshal(rec[4:n], &d); err != nil {
		return d, fmt.Errorf("corrupt delivery record: %w", err)
	}
	d.Payload = nil
	if n < len(rec) {
		d.Payload = bytes.Clone(rec[n:])
	}
	return d, nil
}

// encodeOutbox checks and encodes deliveries about to be queued: each needs an ID, and no ID
// may be given twice (broker.ErrExists).
func encodeOutbox(ds []broker.Delivery) ([][]byte, error) {
	recs := make([][]byte, len(ds))
	var check storekit.Outbox
	for i := range ds {
		d := &ds[i]
		if err := check.CheckID(d); err != nil {
			return nil, err
		}
		var err error
		if recs[i], err = encodeDelivery(d); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// subjectKey returns the outbox_subject key of delivery id about subject.
func subjectKey(subject, id string) []byte {
	return append(append([]byte(subject), 0), id...)
}

// checkOutbox fails with broker.ErrExists if the ID of one of ds is queued or dead already.
func checkOutbox(tx *bolt.Tx, ds []broker.Delivery) error {
	queued, dead := tx.Bucket(bucketOutbox), tx.Bucket(bucketDeadLetters)
	for _, d := range ds {
		if id := []byte(d.ID); queued.Get(id) != nil || dead.Get(id) != nil {
			return fmt.Errorf("delivery %q: %w", d.ID, broker.ErrExists)
		}
	}
	return nil
}

// putOutbox queues deliveries encoded by encodeOutbox, due at their NextAttempt, with their
// subject index entries, in tx. A delivery whose ID is queued or dead already is
// broker.ErrExists (and tx must be rolled back).
func putOutbox(tx *bolt.Tx, ds []broker.Delivery, recs [][]byte) error {
	if err := checkOutbox(tx, ds); err != nil {
		return err
	}
	queued, due, subjects := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxDue), tx.Bucket(bucketOutboxSubj)
	for i, d := range ds {
		k := dueKey(d.NextAttempt, d.ID)
		if err := due.Put(k, nil); err != nil {
			return fmt.Errorf("delivery %q: %w", d.ID, err)
		}
		if err := queued.Put([]byte(d.ID), append(k[:dueLen:dueLen], recs[i]...)); err != nil {
			return fmt.Errorf("delivery %q: %w", d.ID, err)
		}
		if d.Subject != "" {
			if err := subjects.Put(subjectKey(d.Subject, d.ID), nil); err != nil {
				return fmt.Errorf("delivery %q: %w", d.ID, err)
			}
		}
	}
	return nil
}

// removeSubject removes every delivery about subject, queued or dead, with its index entries,
// in tx. It finds them through outbox_subject and checks each one's Subject before removing it,
// so an entry left behind (by Done of a build without the index) never removes a delivery
// about someone else.
func removeSubject(tx *bolt.Tx, subject string) error {
	subjects, queued, dead := tx.Bucket(bucketOutboxSubj), tx.Bucket(bucketOutbox), tx.Bucket(bucketDeadLetters)
	prefix := subjectKey(subject, "")
	var keys [][]byte
	c := subjects.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	about := func(rec []byte) (bool, error) {
		if rec == nil {
			return false, nil
		}
		d, err := decodeDelivery(rec)
		return err == nil && d.Subject == subject, err
	}
	for _, k := range keys {
		id := k[len(prefix):]
		rec := queued.Get(id)
		if len(rec) >= dueLen {
			rec = rec[dueLen:]
		}
		isQueued, err := about(rec)
		if err != nil {
			return fmt.Errorf("boltstore: delivery %q: %w", id, err)
		}
		if isQueued {
			if _, err := unqueue(tx, string(id)); err != nil {
				return err
			}
		}
		isDead, err := about(dead.Get(id))
		if err != nil {
			return fmt.Errorf("boltstore: dead letter %q: %w", id, err)
		}
		if isDead {
			if err := dead.Delete(id); err != nil {
				return fmt.Errorf("boltstore: dead letter %q: %w", id, err)
			}
		}
		// An entry whose delivery is about someone else, or gone, is left over; drop it unless
		// it may be another subject's (a subject that starts with this one and a 0x00).
		if isQueued || isDead || bytes.IndexByte(id, 0) < 0 {
			if err := subjects.Delete(k); err != nil {
				return fmt.Errorf("boltstore: delivery %q: %w", id, err)
			}
		}
	}
	return nil
}

// Lease returns up to n deliveries due at now (NextAttempt, or the end of an earlier lease, not
// after now) in (due time, ID) order, and makes each due at now+lease instead, in one write
// transaction: bbolt runs one writer at a time, so no two Lease calls get the same delivery
// within its lease. n and lease must be positive.
func (db *DB) Lease(ctx context.Context, now time.Time, n int, lease time.Duration) ([]broker.Delivery, error) {
	if n <= 0 || lease <= 0 {
		return nil, fmt.Errorf("boltstore: lease deliveries: n %d and lease %v must be positive", n, lease)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: lease deliveries: %w", err)
	}
	var out []broker.Delivery
	err := db.update(func(tx *bolt.Tx) error {
		queued, due := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxDue)
		limit := dueKey(now, "")
		var keys [][]byte
		c := due.Cursor()
		for k, _ := c.First(); k != nil && len(keys) < n && bytes.Compare(k[:dueLen], limit) <= 0; k, _ = c.Next() {
			keys = append(keys, bytes.Clone(k))
		}
		until := now.Add(lease)
		for _, k := range keys {
			id := k[dueLen:]
			if err := due.Delete(k); err != nil {
				return fmt.Errorf("boltstore: lease delivery %q: %w", id, err)
			}
			rec := queued.Get(id)
			if rec == nil {
				continue // an index entry without record: dropped
			}
			rec = bytes.Clone(rec[dueLen:])
			d, err := decodeDelivery(rec)
			if err != nil {
				return fmt.Errorf("boltstore: delivery %q: %w", id, err)
			}
			nk := dueKey(until, string(id))
			if err := due.Put(nk, nil); err != nil {
				return fmt.Errorf("boltstore: lease delivery %q: %w", id, err)
			}
			if err := queued.Put(id, append(nk[:dueLen:dueLen], rec...)); err != nil {
				return fmt.Errorf("boltstore: lease delivery %q: %w", id, err)
			}
			d.LeasedUntil = until
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Done removes a queued delivery, with its subject index entry; an ID that is not queued is not
// an error.
func (db *DB) Done(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: delivery %q done: %w", id, err)
	}
	if id == "" {
		return nil
	}
	return db.update(func(tx *bolt.Tx) error {
		rec, err := unqueue(tx, id)
		if errors.Is(err, broker.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// A record that does not decode is still removed; its index entry, if any, is dropped
		// by the erasure of its subject.
		if d, err := decodeDelivery(rec); err == nil && d.Subject != "" {
			if err := tx.Bucket(bucketOutboxSubj).Delete(subjectKey(d.Subject, id)); err != nil {
				return fmt.Errorf("boltstore: delivery %q done: %w", id, err)
			}
		}
		return nil
	})
}

// unqueue removes delivery id from the queue and its due index (not from the subject index,
// which covers dead letters too) and returns its record (without due time), or
// broker.ErrNotFound.
func unqueue(tx *bolt.Tx, id string) ([]byte, error) {
	queued := tx.Bucket(bucketOutbox)
	rec := queued.Get([]byte(id))
	if len(rec) < dueLen {
		return nil, fmt.Errorf("boltstore: delivery %q: %w", id, broker.ErrNotFound)
	}
	k := append(bytes.Clone(rec[:dueLen]), id...)
	rec = bytes.Clone(rec[dueLen:])
	if err := tx.Bucket(bucketOutboxDue).Delete(k); err != nil {
		return nil, fmt.Errorf("boltstore: delivery %q: %w", id, err)
	}
	if err := queued.Delete([]byte(id)); err != nil {
		return nil, fmt.Errorf("boltstore: delivery %q: %w", id, err)
	}
	return rec, nil
}

// Retry stores d's Attempts, NextAttempt and LastError in the queued delivery with d's ID
// (whose other fields, Subject included, stay as queued) and makes it due at NextAttempt,
// ending any lease. It fails with broker.ErrNotFound if the delivery is not queued.
func (db *DB) Retry(ctx context.Context, d broker.Delivery) error {
	return db.takeQueued(ctx, "retry", d.ID, d.LeasedUntil, func(tx *bolt.Tx, stored *broker.Delivery) error {
		stored.Attempts, stored.NextAttempt, stored.LastError = d.Attempts, d.NextAttempt, d.LastError
		rec, err := encodeDelivery(stored)
		if err != nil {
			return fmt.Errorf("boltstore: retry delivery: %w", err)
		}
		return putOutbox(tx, []broker.Delivery{*stored}, [][]byte{rec})
	})
}

// Bury moves the queued delivery with d's ID to the dead letters, with d's Attempts and
// LastError (its other fields, NextAttempt and Subject included, stay as queued; so does its
// subject index entry). It fails with broker.ErrNotFound if the delivery is not queued.
func (db *DB) Bury(ctx context.Context, d broker.Delivery) error {
	return db.takeQueued(ctx, "bury", d.ID, d.LeasedUntil, func(tx *bolt.Tx, stored *broker.Delivery) error {
		stored.Attempts, stored.LastError = d.Attempts, d.LastError
		rec, err := encodeDelivery(stored)
		if err != nil {
			return fmt.Errorf("boltstore: bury delivery: %w", err)
		}
		if err := tx.Bucket(bucketDeadLetters).Put([]byte(stored.ID), rec); err != nil {
			return fmt.Errorf("boltstore: bury delivery %q: %w", stored.ID, err)
		}
		return nil
	})
}

// takeQueued takes delivery id out of the queue and hands it to then, in one write
// transaction; broker.ErrNotFound if it is not queued, broker.ErrLeaseLost if leasedUntil is
// set and is not the delivery's current due time (the end of its current lease).
func (db *DB) takeQueued(ctx context.Context, what, id string, leasedUntil time.Time, then func(*bolt.Tx, *broker.Delivery) error) error {
	if id == "" {
		return fmt.Errorf("boltstore: %s delivery: empty ID: %w", what, broker.ErrNotFound)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %s delivery %q: %w", what, id, err)
	}
	return db.update(func(tx *bolt.Tx) error {
		if cur := tx.Bucket(bucketOutbox).Get([]byte(id)); !leasedUntil.IsZero() && len(cur) >= dueLen &&
			!bytes.Equal(cur[:dueLen], dueKey(leasedUntil, "")) {
			return fmt.Errorf("boltstore: %s delivery %q: %w", what, id, broker.ErrLeaseLost)
		}
		rec, err := unqueue(tx, id)
		if err != nil {
			return err
		}
		stored, err := decodeDelivery(rec)
		if err != nil {
			return fmt.Errorf("boltstore: delivery %q: %w", id, err)
		}
		return then(tx, &stored)
	})
}

// DeadLetters returns up to limit dead letters in ID order, starting after the ID after (""
// for the start; an ID that is not a dead letter is a position).
func (db *DB) DeadLetters(ctx context.Context, after string, limit int) ([]broker.Delivery, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("boltstore: dead letters: limit %d is not positive", limit)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: dead letters: %w", err)
	}
	var out []broker.Delivery
	err := db.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketDeadLetters).Cursor()
		k, v := c.First()
		if after != "" {
			k, v = c.Seek([]byte(after))
			if k != nil && string(k) == after {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			d, err := decodeDelivery(v)
			if err != nil {
				return fmt.Errorf("boltstore: dead letter %q: %w", k, err)
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
