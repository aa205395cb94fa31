package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
)

// Erasure records live in the erasures bucket, by key, as JSON. They expire: a read of one
// whose ExpiresAt has passed finds nothing, and every write removes the expired ones (a scan
// of the bucket, which holds the erasures of ErasureTTL at most: fine at one node's scale).

var _ broker.Erasures = (*DB)(nil)

// EraseIdentity is DeleteIdentity that also plans e and stores it, in the same transaction.
func (db *DB) EraseIdentity(ctx context.Context, id string, e *broker.Erasure, notify ...broker.Delivery) error {
	if e == nil || e.Key == "" {
		return fmt.Errorf("boltstore: erase identity %q: an erasure record with a key is required", id)
	}
	return db.deleteIdentity(ctx, id, e, notify)
}

// Erasure returns the erasure record under key, or broker.ErrNotFound (also once expired).
func (db *DB) Erasure(ctx context.Context, key string) (*broker.Erasure, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("boltstore: erasure: %w", err)
	}
	var e broker.Erasure
	err := db.view(func(tx *bolt.Tx) error {
		return get(tx.Bucket(bucketErasures), "erasure", []byte(key), &e)
	})
	if err != nil {
		return nil, err
	}
	if !time.Now().Before(e.ExpiresAt) {
		return nil, fmt.Errorf("boltstore: erasure %q: %w", key, broker.ErrNotFound)
	}
	return &e, nil
}

// PutErasure stores e, replacing what was under its key.
func (db *DB) PutErasure(ctx context.Context, e *broker.Erasure) error {
	if e == nil || e.Key == "" {
		return fmt.Errorf("boltstore: put erasure: a key is required")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: put erasure: %w", err)
	}
	return db.update(func(tx *bolt.Tx) error { return putErasure(tx, e) })
}

// putErasure stores e in tx and removes the expired records.
func putErasure(tx *bolt.Tx, e *broker.Erasure) error {
	b := tx.Bucket(bucketErasures)
	now := time.Now()
	var expired [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var old struct {
			ExpiresAt time.Time `json:"expires_at"`
		}
		if json.Unmarshal(v, &old) == nil && !now.Before(old.ExpiresAt) {
			expired = append(expired, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range expired {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	val, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("erasure %q: %w", e.Key, err)
	}
	return b.Put([]byte(e.Key), val)
}
