package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/broker/storetest"
	"github.com/hearro/trustbroker/internal/testenv/bolttest"
	spi "github.com/hyperledger/aries-framework-go/spi/storage"
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

func TestPersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hearro.db")
	ctx := t.Context()
	now := time.Date(2031, 3, 14, 9, 26, 53, 589793238, time.UTC)

	db, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	s := &broker.Session{ID: "s1", Status: broker.StatusCreated, Policy: "p", Nonce: "n", InvitationID: "inv-1", CreatedAt: now}
	if err := db.CreateSession(ctx, s); err != nil {
		t.Fatalf("CreateSession = %v", err)
	}
	ident := &broker.Identity{ID: "idn-1", FlexIdentity: "hr_one", HolderDID: "did:key:z1", Claims: map[string]any{"n": "Ada"}, CreatedAt: now}
	queued := broker.Delivery{ID: "01JD1", Type: "identity.verified", Payload: []byte(`{"a": 1}`), NextAttempt: now}
	dead := broker.Delivery{ID: "01JD2", Type: "identity.verified", Payload: []byte(`{"a": 2}`), NextAttempt: now.Add(-time.Second)}
	if _, err := db.Transition(ctx, "s1", broker.Transition{
		From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified, Identity: ident,
		Apply:  func(s *broker.Session) { s.ThreadID = "th-1" },
		Outbox: []broker.Delivery{queued, dead},
	}, now); err != nil {
		t.Fatalf("Transition = %v", err)
	}
	if got, err := db.Lease(ctx, now, 1, time.Minute); err != nil || len(got) != 1 || got[0].ID != dead.ID {
		t.Fatalf("Lease = %v, %v; want %s", got, err, dead.ID)
	}
	dead.Attempts, dead.LastError = 9, "HTTP 410"
	if err := db.Bury(ctx, dead); err != nil {
		t.Fatalf("Bury = %v", err)
	}
	secret, err := db.Secret(ctx, "pseudonym", func() ([]byte, error) { return []byte{0, 1, 2, 255}, nil })
	if err != nil {
		t.Fatalf("Secret = %v", err)
	}
	agent, err := db.AgentStorage().OpenStore("Connections")
	if err != nil {
		t.Fatalf("OpenStore = %v", err)
	}
	if err := db.AgentStorage().SetStoreConfig("connections", spi.StoreConfiguration{TagNames: []string{"conn_"}}); err != nil {
		t.Fatalf("SetStoreConfig = %v", err)
	}
	tags := []spi.Tag{{Name: "conn_"}, {Name: "theirDID", Value: "z6Mk"}}
	if err := agent.Put("conn_1", []byte(`{"state":"completed"}`), tags...); err != nil {
		t.Fatalf("Put = %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}

	db, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("reopen = %v", err)
	}
	defer db.Close()

	for name, lookup := range map[string]func() (*broker.Session, error){
		"Session":             func() (*broker.Session, error) { return db.Session(ctx, "s1") },
		"SessionByInvitation": func() (*broker.Session, error) { return db.SessionByInvitation(ctx, "inv-1") },
		"SessionByThread":     func() (*broker.Session, error) { return db.SessionByThread(ctx, "th-1") },
	} {
		got, err := lookup()
		if err != nil {
			t.Errorf("after reopen: %s = %v", name, err)
			continue
		}
		if got.Version != 2 || got.Status != broker.StatusVerified || got.IdentityID != "idn-1" || !got.CreatedAt.Equal(now) {
			t.Errorf("after reopen: %s = %+v", name, got)
		}
	}
	for name, lookup := range map[string]func() (*broker.Identity, error){
		"Identity":       func() (*broker.Identity, error) { return db.Identity(ctx, "idn-1") },
		"IdentityByFlex": func() (*broker.Identity, error) { return db.IdentityByFlex(ctx, "hr_one") },
	} {
		got, err := lookup()
		if err != nil || got.HolderDID != "did:key:z1" || got.Claims["n"] != "Ada" {
			t.Errorf("after reopen: %s = %+v, %v", name, got, err)
		}
	}
	if got, err := db.Lease(ctx, now, 10, time.Minute); err != nil || len(got) != 1 || got[0].ID != queued.ID || string(got[0].Payload) != `{"a": 1}` {
		t.Errorf("after reopen: Lease = %+v, %v; want %s", got, err, queued.ID)
	}
	if got, err := db.DeadLetters(ctx, "", 10); err != nil || len(got) != 1 || got[0].ID != dead.ID || got[0].Attempts != 9 || got[0].LastError != "HTTP 410" {
		t.Errorf("after reopen: DeadLetters = %+v, %v; want %s", got, err, dead.ID)
	}
	again, err := db.Secret(ctx, "pseudonym", func() ([]byte, error) {
		t.Error("generate called for a secret stored before the restart")
		return nil, errors.New("unexpected")
	})
	if err != nil || !bytes.Equal(again, secret) {
		t.Errorf("after reopen: Secret = %x, %v; want %x", again, err, secret)
	}

	p := db.AgentStorage()
	if n := len(p.GetOpenStores()); n != 0 {
		t.Errorf("after reopen: %d open agent stores, want 0", n)
	}
	config, err := p.GetStoreConfig("CONNECTIONS")
	if err != nil || len(config.TagNames) != 1 || config.TagNames[0] != "conn_" {
		t.Errorf("after reopen: GetStoreConfig = %+v, %v", config, err)
	}
	agent, err = p.OpenStore("connections")
	if err != nil {
		t.Fatalf("after reopen: OpenStore = %v", err)
	}
	if v, err := agent.Get("conn_1"); err != nil || string(v) != `{"state":"completed"}` {
		t.Errorf("after reopen: Get = %q, %v", v, err)
	}
	if got, err := agent.GetTags("conn_1"); err != nil || len(got) != 2 || got[1] != tags[1] {
		t.Errorf("after reopen: GetTags = %v, %v", got, err)
	}
	it, err := agent.Query("theirDID:z6Mk")
	if err != nil {
		t.Fatalf("after reopen: Query = %v", err)
	}
	defer it.Close()
	if ok, err := it.Next(); !ok || err != nil {
		t.Fatalf("after reopen: Next = %v, %v; want the stored record", ok, err)
	}
	if k, _ := it.Key(); k != "conn_1" {
		t.Errorf("after reopen: query found %q, want conn_1", k)
	}
}

func TestClosedDB(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "hearro.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
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
	gen := func() ([]byte, error) { return []byte("x"), nil }
	for name, call := range map[string]func() error{
		"Ping":                func() error { return db.Ping(ctx) },
		"CreateSession":       func() error { return db.CreateSession(ctx, &broker.Session{ID: "s1"}) },
		"Session":             func() error { _, err := db.Session(ctx, "s1"); return err },
		"SessionByInvitation": func() error { _, err := db.SessionByInvitation(ctx, "i"); return err },
		"SessionByThread":     func() error { _, err := db.SessionByThread(ctx, "t"); return err },
		"Identity":            func() error { _, err := db.Identity(ctx, "i"); return err },
		"IdentityByFlex":      func() error { _, err := db.IdentityByFlex(ctx, "f"); return err },
		"Secret":              func() error { _, err := db.Secret(ctx, "x", gen); return err },
		"Transition": func() error {
			_, err := db.Transition(ctx, "s1", broker.Transition{From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited}, time.Now())
			return err
		},
		"Lease":           func() error { _, err := db.Lease(ctx, time.Now(), 10, time.Minute); return err },
		"Done":            func() error { return db.Done(ctx, "01JD1") },
		"Retry":           func() error { return db.Retry(ctx, broker.Delivery{ID: "01JD1"}) },
		"Bury":            func() error { return db.Bury(ctx, broker.Delivery{ID: "01JD1"}) },
		"DeadLetters":     func() error { _, err := db.DeadLetters(ctx, "", 10); return err },
		"DeleteIdentity":  func() error { return db.DeleteIdentity(ctx, "idn-1", broker.Delivery{ID: "01JD3"}) },
		"agent Put":       func() error { return agent.Put("k", []byte("v")) },
		"agent Get":       func() error { _, err := agent.Get("k"); return err },
		"agent Query":     func() error { _, err := agent.Query("t"); return err },
		"agent OpenStore": func() error { _, err := db.AgentStorage().OpenStore("other"); return err },
	} {
		if err := call(); !errors.Is(err, broker.ErrUnavailable) {
			t.Errorf("%s on a closed DB = %v, want an error matching broker.ErrUnavailable", name, err)
		}
	}
}

func TestBadInput(t *testing.T) {
	ctx := t.Context()
	db := openDB(t)
	if err := db.CreateSession(ctx, &broker.Session{ID: "s1", Status: broker.StatusCreated, InvitationID: "inv-1"}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateSession(ctx, &broker.Session{ID: "s2", Status: broker.StatusCreated, ThreadID: "th-2"}); err != nil {
		t.Fatal(err)
	}
	from := []broker.Status{broker.StatusCreated}

	t.Run("nil session", func(t *testing.T) {
		if err := db.CreateSession(ctx, nil); err == nil {
			t.Error("CreateSession(nil) = nil error")
		}
	})
	t.Run("taken thread ID on create is ErrExists", func(t *testing.T) {
		err := db.CreateSession(ctx, &broker.Session{ID: "s3", ThreadID: "th-2"})
		if !errors.Is(err, broker.ErrExists) {
			t.Errorf("CreateSession = %v, want ErrExists", err)
		}
		if _, err := db.Session(ctx, "s3"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("rejected session was stored: %v", err)
		}
	})
	t.Run("invalid target status", func(t *testing.T) {
		_, err := db.Transition(ctx, "s1", broker.Transition{From: from, To: "paused"}, time.Now())
		if err == nil || errors.Is(err, broker.ErrConflict) {
			t.Errorf("Transition to an unknown status = %v, want a plain error", err)
		}
	})
	t.Run("Apply changing a field only the store sets", func(t *testing.T) {
		for field, apply := range map[string]func(*broker.Session){
			"ID":         func(s *broker.Session) { s.ID = "other" },
			"Status":     func(s *broker.Session) { s.Status = broker.StatusClosed },
			"Version":    func(s *broker.Session) { s.Version = 99 },
			"IdentityID": func(s *broker.Session) { s.IdentityID = "idn-x" },
		} {
			_, err := db.Transition(ctx, "s1", broker.Transition{From: from, To: broker.StatusInvited, Apply: apply}, time.Now())
			if err == nil || !strings.Contains(err.Error(), field) {
				t.Errorf("Apply changing %s: Transition = %v, want an error naming the field", field, err)
			}
		}
		if s, _ := db.Session(ctx, "s1"); s.Version != 1 {
			t.Errorf("Version after refused transitions = %d, want 1", s.Version)
		}
	})
	t.Run("Apply taking another session's thread or invitation ID is ErrExists", func(t *testing.T) {
		for _, tc := range []struct {
			name, session string
			apply         func(*broker.Session)
		}{
			{"s1 takes s2's thread", "s1", func(s *broker.Session) { s.ThreadID = "th-2" }},
			{"s2 takes s1's invitation", "s2", func(s *broker.Session) { s.InvitationID = "inv-1" }},
		} {
			_, err := db.Transition(ctx, tc.session, broker.Transition{From: from, To: broker.StatusInvited, Apply: tc.apply}, time.Now())
			if !errors.Is(err, broker.ErrExists) {
				t.Errorf("%s: Transition = %v, want ErrExists", tc.name, err)
			}
		}
		if s, err := db.SessionByThread(ctx, "th-2"); err != nil || s.ID != "s2" {
			t.Errorf("thread th-2 now finds %v, %v; want s2", s, err)
		}
		if s, err := db.SessionByInvitation(ctx, "inv-1"); err != nil || s.ID != "s1" {
			t.Errorf("invitation inv-1 now finds %v, %v; want s1", s, err)
		}
	})
	t.Run("new identity whose ID belongs to another flex identity is ErrExists", func(t *testing.T) {
		if _, err := db.Transition(ctx, "s1", broker.Transition{From: from, To: broker.StatusVerified,
			Identity: &broker.Identity{ID: "idn-1", FlexIdentity: "hr_one"}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := db.Transition(ctx, "s2", broker.Transition{From: from, To: broker.StatusVerified,
			Identity: &broker.Identity{ID: "idn-1", FlexIdentity: "hr_two"}}, time.Now())
		if !errors.Is(err, broker.ErrExists) {
			t.Errorf("Transition = %v, want ErrExists", err)
		}
		if _, err := db.IdentityByFlex(ctx, "hr_two"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("IdentityByFlex(hr_two) = %v, want ErrNotFound", err)
		}
	})
	t.Run("Secret without a generator, or with an empty result", func(t *testing.T) {
		if _, err := db.Secret(ctx, "none", nil); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("Secret(nil generator) = %v, want ErrNotFound", err)
		}
		if _, err := db.Secret(ctx, "empty", func() ([]byte, error) { return nil, nil }); err == nil {
			t.Error("Secret with an empty generated value = nil error")
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := db.Session(canceled, "s1"); !errors.Is(err, context.Canceled) {
			t.Errorf("Session = %v, want context.Canceled", err)
		}
		_, err := db.Transition(canceled, "s2", broker.Transition{From: from, To: broker.StatusInvited}, time.Now())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Transition = %v, want context.Canceled", err)
		}
	})
}
