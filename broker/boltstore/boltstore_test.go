package boltstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/broker/internal/agentspi/agentspitest"
	"github.com/hearro/trustbroker/broker/storetest"
	"github.com/hearro/trustbroker/internal/testenv/bolttest"
)

// openDB opens a store in a fresh temporary directory and closes it when the test ends.
func openDB(t testing.TB) *boltstore.DB {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "hearro.db"), boltstore.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return db
}

// TestConformance runs the broker.Store suite on a fresh file per subtest. Its erasure case
// reads every key of every bucket of the file, once the store is closed.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) broker.Store { return openDB(t) },
		Dump: func(t *testing.T, st broker.Store) map[string]string {
			db := st.(*boltstore.DB)
			if err := db.Close(); err != nil {
				t.Fatalf("Close = %v", err)
			}
			return bolttest.Dump(t, db.Path())
		},
		Subjects: func(t *testing.T, st broker.Store, subject string) []string {
			ids, err := boltstore.SubjectIndex(st.(*boltstore.DB), subject)
			if err != nil {
				t.Fatalf("SubjectIndex = %v", err)
			}
			return ids
		},
		Kept: func(_ broker.Store, k storetest.Kept) []storetest.Record {
			return []storetest.Record{
				{Key: "identities/" + k.Identity.ID, Holds: k.Identity.Claims["memberId"].(string)},
				{Key: "outbox/" + k.Delivery.ID, Holds: k.Identity.HolderDID},
				{Key: "outbox_subject/" + k.Identity.ID + "\x00" + k.Delivery.ID},
				{Key: "outbox/" + k.Erasure.ID, Holds: "identity.erased"},
			}
		},
	})
}

func TestOpen(t *testing.T) {
	t.Run("creates the parent directory 0700 and the file 0600", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "state", "nested", "hearro.db")
		db, err := boltstore.Open(path, boltstore.Options{})
		if err != nil {
			t.Fatalf("Open = %v", err)
		}
		defer db.Close()
		for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700, path: 0o600} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatalf("Stat(%s) = %v", p, err)
			}
			if got := fi.Mode().Perm(); got&^want != 0 { // the umask may only remove bits
				t.Errorf("%s has mode %v, want at most %v", p, got, want)
			}
		}
		if db.Path() != path {
			t.Errorf("Path() = %q, want %q", db.Path(), path)
		}
	})
	t.Run("empty path is an error", func(t *testing.T) {
		if _, err := boltstore.Open("", boltstore.Options{}); err == nil {
			t.Fatal("Open(\"\") = nil error")
		}
	})
	t.Run("a second open of a file in use fails fast with ErrLocked", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "hearro.db")
		first, err := boltstore.Open(path, boltstore.Options{})
		if err != nil {
			t.Fatalf("first Open = %v", err)
		}
		defer first.Close()

		start := time.Now()
		second, err := boltstore.Open(path, boltstore.Options{Timeout: 100 * time.Millisecond})
		if err == nil {
			second.Close()
			t.Fatal("second Open of a locked file succeeded")
		}
		if !errors.Is(err, boltstore.ErrLocked) || !strings.Contains(err.Error(), "locked by another process") {
			t.Errorf("second Open = %v, want an error wrapping ErrLocked", err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("second Open took %v to fail", took)
		}
		if err := first.Ping(t.Context()); err != nil {
			t.Errorf("first DB after the failed second Open: Ping = %v", err)
		}

		// Once the first holder closes, the file opens again.
		if err := first.Close(); err != nil {
			t.Fatalf("Close = %v", err)
		}
		again, err := boltstore.Open(path, boltstore.Options{Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatalf("Open after Close = %v", err)
		}
		again.Close()
	})
	t.Run("a file that is not a store is an error", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "garbage.db")
		if err := os.WriteFile(path, bytes.Repeat([]byte("not bbolt "), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
		if db, err := boltstore.Open(path, boltstore.Options{}); err == nil {
			db.Close()
			t.Fatal("Open of a garbage file succeeded")
		}
	})
}

// TestPersistence closes the file and opens it again: the broker's data and the agent's are
// there (see storetest.BeforeRestart and agentspitest.BeforeRestart), and no agent store is
// open in the new DB.
func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearro.db")
	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	after := storetest.BeforeRestart(t, db)
	afterAgent := agentspitest.BeforeRestart(t, db.AgentStorage())
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	db, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("reopen = %v", err)
	}
	defer db.Close()
	if n := len(db.AgentStorage().GetOpenStores()); n != 0 {
		t.Errorf("after reopen: %d open agent stores, want 0", n)
	}
	after(t, db)
	afterAgent(t, db.AgentStorage())
}

// TestClosedDB: once the DB is closed (twice is fine), every call fails with an error matching
// broker.ErrUnavailable, the agent storage's included.
func TestClosedDB(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "hearro.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := db.AgentStorage().OpenStore("s")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	storetest.Unavailable(t, db)
	agentspitest.Unavailable(t, db.AgentStorage(), agent)
}
