package storetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// The checks below are the suite's for what it cannot do itself: take a store's backend away
// and bring it back. Each store's tests do that their own way (closing and reopening a file,
// stopping and starting a Redis) and call them around it.

// Verify stores ident through a fresh session sid, requested at now, verified at now: the only
// way the contract offers. It returns the verified session.
func Verify(t testing.TB, st broker.Store, sid string, ident *broker.Identity, now time.Time) *broker.Session {
	t.Helper()
	s := newSession(sid)
	s.Status = broker.StatusRequested
	s.ThreadID = "th-" + sid
	s.CreatedAt, s.UpdatedAt, s.ExpiresAt = now, now, now.Add(10*time.Minute)
	if err := st.CreateSession(t.Context(), s); err != nil {
		t.Fatalf("CreateSession(%q) = %v", sid, err)
	}
	out, err := st.Transition(t.Context(), sid, broker.Transition{
		From: []broker.Status{broker.StatusRequested}, To: broker.StatusVerified, Identity: ident,
	}, now)
	if err != nil {
		t.Fatalf("verify %s: %v", sid, err)
	}
	return out
}

// Unavailable checks that every call of st, whose backend is gone (a closed file, a Redis that
// is down), fails with an error matching broker.ErrUnavailable: Ping and every other method of
// broker.Store and broker.Outbox.
func Unavailable(t *testing.T, st broker.Store) {
	t.Helper()
	ctx, ob := t.Context(), outboxOf(t, st)
	gen := func() ([]byte, error) { return []byte("x"), nil }
	for name, call := range map[string]func() error{
		"Ping":                func() error { return st.Ping(ctx) },
		"CreateSession":       func() error { return st.CreateSession(ctx, &broker.Session{ID: "s2"}) },
		"Session":             func() error { _, err := st.Session(ctx, "s1"); return err },
		"SessionByInvitation": func() error { _, err := st.SessionByInvitation(ctx, "inv-s1"); return err },
		"SessionByThread":     func() error { _, err := st.SessionByThread(ctx, "th-s1"); return err },
		"Identity":            func() error { _, err := st.Identity(ctx, "idn-1"); return err },
		"IdentityByFlex":      func() error { _, err := st.IdentityByFlex(ctx, "hr_one"); return err },
		"ListIdentities":      func() error { _, err := st.ListIdentities(ctx, broker.IdentityFilter{}, "", 10); return err },
		"DeleteIdentity":      func() error { return st.DeleteIdentity(ctx, "idn-1", newDelivery(3, base)) },
		"LinkChat":            func() error { return st.LinkChat(ctx, "CH1", "s1", base) },
		"SessionsByChat":      func() error { _, err := st.SessionsByChat(ctx, "CH1"); return err },
		"Secret":              func() error { _, err := st.Secret(ctx, "new", gen); return err },
		"Transition": func() error {
			_, err := st.Transition(ctx, "s1", broker.Transition{From: []broker.Status{broker.StatusVerified}, To: broker.StatusBound}, base)
			return err
		},
		"Lease":       func() error { _, err := ob.Lease(ctx, base, 10, time.Minute); return err },
		"Done":        func() error { return ob.Done(ctx, deliveryID(1)) },
		"Retry":       func() error { return ob.Retry(ctx, broker.Delivery{ID: deliveryID(1), NextAttempt: base}) },
		"Bury":        func() error { return ob.Bury(ctx, broker.Delivery{ID: deliveryID(1)}) },
		"DeadLetters": func() error { _, err := ob.DeadLetters(ctx, "", 10); return err },
	} {
		if err := call(); !errors.Is(err, broker.ErrUnavailable) {
			t.Errorf("%s with the backend gone = %v, want an error matching broker.ErrUnavailable", name, err)
		}
	}
}

// BeforeRestart writes to st a verified session with its identity, a queued delivery, a dead
// letter and a secret, and returns the check to run on the store after a restart (the file
// reopened, the Redis back): it finds all of them as they were, by every key, and takes
// transitions and erasures again.
func BeforeRestart(t *testing.T, st broker.Store) (after func(t *testing.T, st broker.Store)) {
	t.Helper()
	ctx, ob := t.Context(), outboxOf(t, st)
	create(t, st, newSession("s1"))
	queued, dead := newDelivery(1, base), newDelivery(2, base.Add(-time.Second))
	ident := newIdentity("idn-1", "hr_one")
	verified, err := st.Transition(ctx, "s1", broker.Transition{
		From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified, Identity: ident,
		Apply:  func(s *broker.Session) { s.ThreadID = "th-s1" },
		Outbox: []broker.Delivery{queued, dead},
	}, base)
	if err != nil {
		t.Fatalf("Transition = %v", err)
	}
	if got := lease(t, ob, base, 1, time.Minute); len(got) != 1 || got[0].ID != dead.ID {
		t.Fatalf("Lease = %v; want %s", deliveryIDs(got), dead.ID)
	}
	dead.Attempts, dead.LastError = 9, "HTTP 410"
	if err := ob.Bury(ctx, dead); err != nil {
		t.Fatalf("Bury = %v", err)
	}
	secret, err := st.Secret(ctx, "pseudonym", func() ([]byte, error) { return []byte{0, 1, 2, 255}, nil })
	if err != nil {
		t.Fatalf("Secret = %v", err)
	}

	return func(t *testing.T, st broker.Store) {
		t.Helper()
		ctx, ob := t.Context(), outboxOf(t, st)
		for name, lookup := range map[string]func() (*broker.Session, error){
			"Session":             func() (*broker.Session, error) { return st.Session(ctx, "s1") },
			"SessionByInvitation": func() (*broker.Session, error) { return st.SessionByInvitation(ctx, "inv-s1") },
			"SessionByThread":     func() (*broker.Session, error) { return st.SessionByThread(ctx, "th-s1") },
		} {
			got, err := lookup()
			if err != nil {
				t.Errorf("after the restart: %s = %v", name, err)
				continue
			}
			sameJSON(t, "after the restart: "+name, verified, got)
		}
		sameJSON(t, "after the restart: Identity", ident, mustIdentity(t, st, ident.ID))
		if got, err := st.IdentityByFlex(ctx, ident.FlexIdentity); err != nil {
			t.Errorf("after the restart: IdentityByFlex = %v", err)
		} else {
			sameJSON(t, "after the restart: IdentityByFlex", ident, got)
		}
		sameDeliveries(t, "after the restart: Lease", []broker.Delivery{queued}, lease(t, ob, base, 10, time.Minute))
		if got := deadLetters(t, ob); len(got) != 1 || got[0].ID != dead.ID || got[0].Attempts != 9 || got[0].LastError != "HTTP 410" {
			t.Errorf("after the restart: DeadLetters = %+v; want %s, 9 attempts, HTTP 410", got, dead.ID)
		}
		again, err := st.Secret(ctx, "pseudonym", func() ([]byte, error) {
			t.Error("generate called for a secret stored before the restart")
			return nil, errors.New("unexpected")
		})
		if err != nil || !bytes.Equal(again, secret) {
			t.Errorf("after the restart: Secret = %x, %v; want %x", again, err, secret)
		}
		if _, err := st.Transition(ctx, "s1", broker.Transition{
			From: []broker.Status{broker.StatusVerified}, To: broker.StatusBound,
		}, base); err != nil {
			t.Errorf("after the restart: Transition = %v", err)
		}
		if err := st.DeleteIdentity(ctx, ident.ID); err != nil {
			t.Errorf("after the restart: DeleteIdentity = %v", err)
		}
	}
}
