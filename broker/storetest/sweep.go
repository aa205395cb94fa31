package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// testSweepQueries pins SessionsDue and SessionsAwaitingChat: which sessions each returns, in
// which order, up to limit, and that they follow every transition (a status or ExpiresAt
// changed by Apply) and an erasure.
func testSweepQueries(t *testing.T, open func(t *testing.T) broker.Store) {
	ctx := t.Context()
	at := func(d time.Duration) func(*broker.Session) {
		return func(s *broker.Session) { s.ExpiresAt = base.Add(d) }
	}
	newAt := func(id string, d time.Duration) *broker.Session {
		s := newSession(id)
		s.ExpiresAt = base.Add(d)
		return s
	}
	due := func(t *testing.T, st broker.Store, now time.Duration, limit int) []string {
		t.Helper()
		ids, err := st.SessionsDue(ctx, base.Add(now), limit)
		if err != nil {
			t.Fatalf("SessionsDue = %v", err)
		}
		return ids
	}
	waiting := func(t *testing.T, st broker.Store, limit int) []string {
		t.Helper()
		ids, err := st.SessionsAwaitingChat(ctx, limit)
		if err != nil {
			t.Fatalf("SessionsAwaitingChat = %v", err)
		}
		return ids
	}
	want := func(t *testing.T, what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s = %q, want %q", what, got, want)
		}
	}

	t.Run("sessions still waiting whose time is up, earliest first, up to limit", func(t *testing.T) {
		st := open(t)
		for _, s := range []*broker.Session{
			newAt("s-late", 3*time.Minute), newAt("s-early", time.Minute),
			newAt("s-mid", 2*time.Minute), newAt("s-future", time.Hour),
		} {
			create(t, st, s)
		}
		want(t, "nothing is due before the first expiry", due(t, st, 59*time.Second, 10))
		want(t, "due at exactly ExpiresAt", due(t, st, time.Minute, 10), "s-early")
		want(t, "due after 5 min", due(t, st, 5*time.Minute, 10), "s-early", "s-mid", "s-late")
		want(t, "limit 2", due(t, st, 5*time.Minute, 2), "s-early", "s-mid")
	})
	t.Run("every waiting status is due; bound and terminal sessions never are", func(t *testing.T) {
		st := open(t)
		path := []broker.Status{broker.StatusInvited, broker.StatusConnected, broker.StatusRequested, broker.StatusVerified, broker.StatusBound, broker.StatusClosed}
		for i := range path {
			s := newAt("s"+string(rune('a'+i)), time.Minute)
			create(t, st, s)
			for _, step := range path[:i+1] {
				move(t, st, s.ID, step, nil)
			}
		}
		create(t, st, newAt("s-created", time.Minute))
		create(t, st, newAt("s-rejected", time.Minute))
		move(t, st, "s-rejected", broker.StatusRejected, nil)
		create(t, st, newAt("s-expired", time.Minute))
		move(t, st, "s-expired", broker.StatusExpired, nil)
		got := due(t, st, time.Hour, 100)
		slices.Sort(got)
		want(t, "due sessions", got, "s-created", "sa", "sb", "sc", "sd")
		want(t, "verified sessions waiting for a chat", waiting(t, st, 100), "sd")
	})
	t.Run("a transition that changes ExpiresAt moves the session in both queries", func(t *testing.T) {
		st := open(t)
		create(t, st, newAt("s1", time.Minute))
		create(t, st, newAt("s2", 2*time.Minute))
		move(t, st, "s1", broker.StatusInvited, at(3*time.Minute))
		want(t, "after s1 moved later", due(t, st, 10*time.Minute, 10), "s2", "s1")
		for _, id := range []string{"s1", "s2"} {
			for _, to := range []broker.Status{broker.StatusConnected, broker.StatusRequested, broker.StatusVerified} {
				move(t, st, id, to, nil)
			}
		}
		want(t, "waiting, earliest ExpiresAt first", waiting(t, st, 10), "s2", "s1")
		want(t, "waiting, limit 1", waiting(t, st, 1), "s2")
		move(t, st, "s2", broker.StatusVerified, at(4*time.Minute)) // a chat error noted, time extended
		want(t, "after s2's ExpiresAt moved", waiting(t, st, 10), "s1", "s2")
		move(t, st, "s1", broker.StatusBound, nil)
		want(t, "after s1 was bound", waiting(t, st, 10), "s2")
		want(t, "due after s1 was bound", due(t, st, 10*time.Minute, 10), "s2")
		move(t, st, "s2", broker.StatusExpired, nil)
		want(t, "waiting after s2 expired", waiting(t, st, 10))
		want(t, "due after s2 expired", due(t, st, 10*time.Minute, 10))
	})
	t.Run("a verified session whose identity is erased stays in both queries", func(t *testing.T) {
		st := open(t)
		create(t, st, newAt("s1", time.Minute))
		for _, to := range []broker.Status{broker.StatusInvited, broker.StatusConnected, broker.StatusRequested} {
			move(t, st, "s1", to, nil)
		}
		ident := newIdentity("i1", "hr_one")
		if _, err := st.Transition(ctx, "s1", broker.Transition{From: []broker.Status{broker.StatusRequested}, To: broker.StatusVerified, Identity: ident}, base); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteIdentity(ctx, "i1"); err != nil {
			t.Fatal(err)
		}
		want(t, "waiting", waiting(t, st, 10), "s1")
		want(t, "due", due(t, st, time.Hour, 10), "s1")
	})
}
