package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
)

// TestOpenIndexesAnOlderFile: a file written before the sweep indexes existed gets them on
// open, built from its sessions, so that the sweep finds the sessions it already holds.
func TestOpenIndexesAnOlderFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, s := range []*broker.Session{
		{ID: "waiting", Status: broker.StatusInvited, ExpiresAt: now.Add(-time.Minute)},
		{ID: "verified", Status: broker.StatusVerified, ExpiresAt: now.Add(time.Hour)},
		{ID: "closed", Status: broker.StatusClosed, ExpiresAt: now.Add(-time.Hour)},
	} {
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	// What an older build's file looks like: the sessions, no sweep indexes.
	raw, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Update(func(tx *bolt.Tx) error {
		for _, b := range []string{"sessions_due", "sessions_awaiting_chat"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	due, err := db.SessionsDue(ctx, now.Add(2*time.Hour), 10)
	if err != nil || len(due) != 2 || due[0] != "waiting" || due[1] != "verified" {
		t.Fatalf("SessionsDue = %q, %v; want [waiting verified]", due, err)
	}
	waiting, err := db.SessionsAwaitingChat(ctx, 10)
	if err != nil || len(waiting) != 1 || waiting[0] != "verified" {
		t.Fatalf("SessionsAwaitingChat = %q, %v; want [verified]", waiting, err)
	}
}
