package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/hearro/trustbroker/broker"
)

// testBadInput pins down what every store refuses beyond the contract's own errors, as their
// Transition and CreateSession doc comments say: the store is left as it was.
func testBadInput(t *testing.T, open func(t *testing.T) broker.Store) {
	st, ctx := open(t), t.Context()
	create(t, st, newSession("s1"))
	s2 := newSession("s2")
	s2.ThreadID = "th-2"
	create(t, st, s2)
	from := []broker.Status{broker.StatusCreated}

	t.Run("nil session", func(t *testing.T) {
		if err := st.CreateSession(ctx, nil); err == nil {
			t.Error("CreateSession(nil) = nil error")
		}
	})
	t.Run("taken thread ID on create is ErrExists", func(t *testing.T) {
		s3 := newSession("s3")
		s3.ThreadID = "th-2"
		if err := st.CreateSession(ctx, s3); !errors.Is(err, broker.ErrExists) {
			t.Errorf("CreateSession = %v, want ErrExists", err)
		}
		_, err := st.Session(ctx, "s3")
		isNotFound(t, "Session(rejected session)", err)
	})
	t.Run("invalid target status", func(t *testing.T) {
		_, err := st.Transition(ctx, "s1", broker.Transition{From: from, To: "paused"}, base)
		if err == nil || errors.Is(err, broker.ErrConflict) {
			t.Errorf("Transition to an unknown status = %v, want a plain error", err)
		}
	})
	t.Run("Apply taking another session's thread or invitation ID is ErrExists", func(t *testing.T) {
		for _, tc := range []struct {
			name, session string
			apply         func(*broker.Session)
		}{
			{"s1 takes s2's thread", "s1", func(s *broker.Session) { s.ThreadID = "th-2" }},
			{"s2 takes s1's invitation", "s2", func(s *broker.Session) { s.InvitationID = "inv-s1" }},
		} {
			_, err := st.Transition(ctx, tc.session, broker.Transition{From: from, To: broker.StatusInvited, Apply: tc.apply}, base)
			if !errors.Is(err, broker.ErrExists) {
				t.Errorf("%s: Transition = %v, want ErrExists", tc.name, err)
			}
		}
		if s, err := st.SessionByThread(ctx, "th-2"); err != nil || s.ID != "s2" {
			t.Errorf("thread th-2 now finds %v, %v; want s2", s, err)
		}
		if s, err := st.SessionByInvitation(ctx, "inv-s1"); err != nil || s.ID != "s1" {
			t.Errorf("invitation inv-s1 now finds %v, %v; want s1", s, err)
		}
	})
	t.Run("new identity whose ID belongs to another flex identity is ErrExists", func(t *testing.T) {
		if _, err := st.Transition(ctx, "s1", broker.Transition{From: from, To: broker.StatusVerified,
			Identity: newIdentity("idn-1", "hr_one")}, base); err != nil {
			t.Fatal(err)
		}
		_, err := st.Transition(ctx, "s2", broker.Transition{From: from, To: broker.StatusVerified,
			Identity: newIdentity("idn-1", "hr_two")}, base)
		if !errors.Is(err, broker.ErrExists) {
			t.Errorf("Transition = %v, want ErrExists", err)
		}
		_, err = st.IdentityByFlex(ctx, "hr_two")
		isNotFound(t, "IdentityByFlex(hr_two)", err)
	})
	t.Run("canceled context", func(t *testing.T) {
		canceled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := st.Session(canceled, "s1"); !errors.Is(err, context.Canceled) {
			t.Errorf("Session = %v, want context.Canceled", err)
		}
		_, err := st.Transition(canceled, "s2", broker.Transition{From: from, To: broker.StatusInvited}, base)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Transition = %v, want context.Canceled", err)
		}
	})
}
