package boltstore_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/broker/storetest"
	"github.com/hearro/trustbroker/internal/testenv/bolttest"
)

// editFile runs fn in a write transaction on the store file at path (closed).
func editFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("bolt.Open = %v", err)
	}
	defer b.Close()
	if err := b.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func reopen(t *testing.T, path string) *boltstore.DB {
	t.Helper()
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// subjectIndex returns the outbox_subject entries of the file at path, as "subject delivery".
func subjectIndex(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	for key := range bolttest.Dump(t, path) {
		if rest, ok := strings.CutPrefix(key, "outbox_subject/"); ok {
			out = append(out, strings.ReplaceAll(rest, "\x00", " "))
		}
	}
	slices.Sort(out)
	return out
}

// TestSubjectIndexLeftovers: the erasure drops the subject's outbox_subject entries, and those
// left over by a build without the index (for deliveries that are gone or about someone else)
// without removing anyone else's delivery. (The suite follows the index through the outbox:
// see Harness.Subjects in TestConformance.)
func TestSubjectIndexLeftovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearro.db")
	db := reopen(t, path)
	ctx := t.Context()
	now := time.Date(2031, 3, 14, 9, 26, 53, 589793238, time.UTC)
	a, b := storetest.Customer(1, now), storetest.Customer(2, now)
	storetest.Verify(t, db, "s1", a, now)
	storetest.Verify(t, db, "s2", b, now)
	d := func(id, subject string) broker.Delivery {
		return broker.Delivery{ID: id, Subject: subject, Payload: []byte(`{}`), NextAttempt: now}
	}
	if _, err := db.Transition(ctx, "s1", broker.Transition{From: []broker.Status{broker.StatusVerified}, To: broker.StatusVerified,
		Outbox: []broker.Delivery{d("01JD1", a.ID), d("01JD2", a.ID), d("01JD5", b.ID)}}, now); err != nil {
		t.Fatal(err)
	}
	leased, err := db.Lease(ctx, now, 10, time.Minute)
	if err != nil || len(leased) != 3 {
		t.Fatalf("Lease = %v, %v", leased, err)
	}
	if err := db.Bury(ctx, leased[1]); err != nil { // a dead letter about A
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{a.ID + " 01JD1", a.ID + " 01JD2", b.ID + " 01JD5"}
	if got := subjectIndex(t, path); !slices.Equal(got, want) {
		t.Fatalf("outbox_subject: %v, want %v", got, want)
	}

	// Entries left over (by Done in a build without the index): for a delivery that is gone,
	// for one about someone else, and one that may be another subject's (a subject that starts
	// with A's ID and a 0x00).
	editFile(t, path, func(tx *bolt.Tx) error {
		idx := tx.Bucket([]byte("outbox_subject"))
		for _, k := range []string{a.ID + "\x0001JD9", a.ID + "\x0001JD5", a.ID + "\x00x\x0001JD8"} {
			if err := idx.Put([]byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	db = reopen(t, path)
	if err := db.DeleteIdentity(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	got, err := db.Lease(ctx, now.Add(time.Hour), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != "01JD5" || got[0].Subject != b.ID {
		t.Errorf("Lease after erasing A = %+v, %v; want only 01JD5, about B", got, err)
	}
	if dead, err := db.DeadLetters(ctx, "", 10); err != nil || len(dead) != 0 {
		t.Errorf("DeadLetters after erasing A = %+v, %v; want none", dead, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := subjectIndex(t, path), []string{a.ID + " x 01JD8", b.ID + " 01JD5"}; !slices.Equal(got, want) {
		t.Errorf("outbox_subject after erasing A: %v, want %v", got, want)
	}
}

// TestOpenAddsSubjectIndex opens a file written before outbox_subject existed (same schema
// version): Open adds the bucket, and deliveries queued from then on are removed with their
// subject.
func TestOpenAddsSubjectIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearro.db")
	db := reopen(t, path)
	ctx := t.Context()
	now := time.Date(2031, 3, 14, 9, 26, 53, 589793238, time.UTC)
	a := storetest.Customer(1, now)
	storetest.Verify(t, db, "s1", a, now)
	old := broker.Delivery{ID: "01JD1", Payload: []byte(`{}`), NextAttempt: now}
	if _, err := db.Transition(ctx, "s1", broker.Transition{From: []broker.Status{broker.StatusVerified}, To: broker.StatusVerified,
		Outbox: []broker.Delivery{old}}, now); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	editFile(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("outbox_subject")) })

	db = reopen(t, path)
	about := broker.Delivery{ID: "01JD2", Subject: a.ID, Payload: []byte(`{}`), NextAttempt: now}
	if _, err := db.Transition(ctx, "s1", broker.Transition{From: []broker.Status{broker.StatusVerified}, To: broker.StatusVerified,
		Outbox: []broker.Delivery{about}}, now); err != nil {
		t.Fatalf("Transition queuing a delivery with a Subject in a file from before the index = %v", err)
	}
	if err := db.DeleteIdentity(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	got, err := db.Lease(ctx, now, 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != old.ID {
		t.Errorf("Lease after the erasure = %+v, %v; want only the delivery about no one", got, err)
	}
}
