package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
)

// LinkChat records that sessionID is bound to chatSID. The embedded store keeps links as long
// as the file (a link holds two SIDs and no personal data).
func (db *DB) LinkChat(ctx context.Context, chatSID, sessionID string, until time.Time) error {
	if chatSID == "" || sessionID == "" {
		return errors.New("boltstore: link chat: empty chat or session ID")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.update(func(tx *bolt.Tx) error {
		key := append(append([]byte(chatSID), 0), sessionID...)
		return tx.Bucket(bucketChatSessions).Put(key, []byte(until.UTC().Format(time.RFC3339)))
	})
}

// SessionsByChat returns the sessions linked to chatSID whose chat it is.
func (db *DB) SessionsByChat(ctx context.Context, chatSID string) ([]*broker.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*broker.Session
	err := db.view(func(tx *bolt.Tx) error {
		prefix := append([]byte(chatSID), 0)
		sessions := tx.Bucket(bucketSessions)
		c := tx.Bucket(bucketChatSessions).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			var s broker.Session
			err := get(sessions, "session", k[len(prefix):], &s)
			if errors.Is(err, broker.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if s.Chat != nil && s.Chat.ConversationSID == chatSID {
				out = append(out, &s)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: sessions of chat %q: %w", chatSID, err)
	}
	return out, nil
}
