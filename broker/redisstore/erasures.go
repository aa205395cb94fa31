package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
)

// Erasure records are JSON strings under <prefix>:{b}:er:<key> that Redis expires at their
// ExpiresAt.

var _ broker.Erasures = (*Store)(nil)

// EraseIdentity is DeleteIdentity that also plans e and stores it, in the same atomic step.
func (s *Store) EraseIdentity(ctx context.Context, id string, e *broker.Erasure, notify ...broker.Delivery) error {
	if e == nil || e.Key == "" {
		return fmt.Errorf("redisstore: erase identity %q: an erasure record with a key is required", id)
	}
	return s.deleteIdentity(ctx, id, e, notify)
}

// Erasure returns the erasure record under key, or broker.ErrNotFound (also once expired).
func (s *Store) Erasure(ctx context.Context, key string) (*broker.Erasure, error) {
	raw, err := s.client.Get(ctx, s.keys.erasure(key)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("redisstore: erasure %q: %w", key, broker.ErrNotFound)
	}
	if err != nil {
		return nil, s.errf(err, "erasure %q", key)
	}
	var e broker.Erasure
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("redisstore: erasure %q: %w", key, err)
	}
	return &e, nil
}

// PutErasure stores e, replacing what was under its key, until e.ExpiresAt.
func (s *Store) PutErasure(ctx context.Context, e *broker.Erasure) error {
	if e == nil || e.Key == "" {
		return errors.New("redisstore: put erasure: a key is required")
	}
	rec, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("redisstore: erasure %q: %w", e.Key, err)
	}
	if err := s.client.SetArgs(ctx, s.keys.erasure(e.Key), rec, redis.SetArgs{ExpireAt: e.ExpiresAt}).Err(); err != nil {
		return s.errf(err, "put erasure %q", e.Key)
	}
	return nil
}
