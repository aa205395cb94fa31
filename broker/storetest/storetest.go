// Package storetest is the conformance suite for broker.Store and broker.Outbox: every
// implementation (boltstore, redisstore, …) runs Run from its own tests against a real backend,
// so that all of them keep the promises written in the broker.Store, broker.Transition and
// broker.Outbox doc comments. It is the same idea as testing/slogtest for slog.Handler.
//
// Each case is named for the sentence of the contract it pins down. storetest imports only
// broker and the standard library; it must not depend on any store implementation.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// racers is how many goroutines the concurrency cases start at once.
const racers = 30

// Harness is what the suite needs of an implementation.
type Harness struct {
	// Open returns a fresh, empty store and registers any clean-up with t.Cleanup. The store
	// must also implement broker.Outbox (the deliveries Transition.Outbox queues are leased
	// through it); the outbox cases fail otherwise.
	Open func(t *testing.T) broker.Store
	// Dump returns everything st holds, every record of every kind, each under its key (a
	// bucket path, a Redis key name, …) with its content as text. The erasure case calls it
	// once it is done with st and checks that nothing of the erased customer is in it; Dump
	// may close st. It is required.
	Dump func(t *testing.T, st broker.Store) map[string]string
	// Kept, if set, names the records the store keeps the erasure case's other customer, their
	// queued delivery and the erasure's own delivery in (its key layout): each must be in the
	// dump. It is called before Dump.
	Kept func(st broker.Store, k Kept) []Record
	// Subjects returns the IDs of the deliveries the store's index of deliveries by Subject
	// (which DeleteIdentity finds them through) lists for subject, in any order, and may check
	// what else the store keeps with the index. The subject index case follows it through the
	// outbox. It is required.
	Subjects func(t *testing.T, st broker.Store, subject string) []string
	// Replica, if set, opens another store on st's data, as another replica of the service
	// would (its own connections to the backend, the same data): the concurrency cases race
	// st and two replicas. Without it they race st alone.
	Replica func(t *testing.T, st broker.Store) broker.Store
}

// replicas returns st and, if the harness opens replicas, two more on its data.
func (h Harness) replicas(t *testing.T, st broker.Store) []broker.Store {
	if h.Replica == nil {
		return []broker.Store{st}
	}
	return []broker.Store{st, h.Replica(t, st), h.Replica(t, st)}
}

// Run runs the conformance suite. Every subtest calls h.Open for a fresh, empty store.
// Run the suite with -race: several cases are races.
func Run(t *testing.T, h Harness) {
	for _, c := range []struct {
		name string
		test func(t *testing.T, h Harness)
	}{
		{"CreateSession", onOpen(testCreateSession)},
		{"Lookup", onOpen(testLookup)},
		{"Transition", onOpen(testTransition)},
		{"Transition with identity", onOpen(testTransitionIdentity)},
		{"ListIdentities", onOpen(testListIdentities)},
		{"DeleteIdentity", onOpen(testDeleteIdentity)},
		{"Chat links", onOpen(testChatLinks)},
		{"Sweep queries", onOpen(testSweepQueries)},
		{"Secret", onOpen(testSecret)},
		{"Concurrency", func(t *testing.T, h Harness) { testConcurrency(t, h.Open, h.replicas) }},
		{"Transition with outbox", onOpen(testTransitionOutbox)},
		{"DeleteIdentity with notify", onOpen(testDeleteIdentityNotify)},
		{"DeleteIdentity removes the subject's deliveries", onOpen(testDeleteIdentitySubject)},
		{"Outbox Subject", onOpen(testSubject)},
		{"Outbox subject index", testSubjectIndex},
		{"Outbox Lease", func(t *testing.T, h Harness) { testLease(t, h.Open, h.replicas) }},
		{"Outbox Done", onOpen(testDone)},
		{"Outbox Retry", onOpen(testRetry)},
		{"Outbox Bury", onOpen(testBury)},
		{"Outbox lease ownership", onOpen(testLeaseOwnership)},
		{"Outbox DeadLetters", onOpen(testDeadLetters)},
		{"DeleteIdentity leaves no trace", testErasureLeavesNoTrace},
		{"Erasures", onOpen(testErasures)},
		{"Bad input", onOpen(testBadInput)},
		{"Ping", onOpen(testPing)},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, h) })
	}
}

// onOpen makes a case of the suite of one that needs only Harness.Open.
func onOpen(test func(t *testing.T, open func(t *testing.T) broker.Store)) func(t *testing.T, h Harness) {
	return func(t *testing.T, h Harness) { test(t, h.Open) }
}

func testPing(t *testing.T, open func(t *testing.T) broker.Store) {
	if err := open(t).Ping(t.Context()); err != nil {
		t.Fatalf("Ping on a healthy store = %v, want nil", err)
	}
}

// base is a fixed point in time with nanoseconds, so that stores which drop precision fail.
var base = time.Date(2031, time.March, 14, 9, 26, 53, 589793238, time.UTC)

// newSession returns a session with every field set, as CreateSession receives it.
func newSession(id string) *broker.Session {
	return &broker.Session{
		ID:               id,
		Status:           broker.StatusCreated,
		Policy:           "verified-customer",
		Nonce:            "nonce-" + id,
		ConfirmationCode: "K7QF",
		InvitationID:     "inv-" + id,
		Invitation:       json.RawMessage(`{"@id":"inv-` + id + `","@type":"https://didcomm.org/out-of-band/1.1/invitation"}`),
		CreatedAt:        base,
		UpdatedAt:        base,
		ExpiresAt:        base.Add(10 * time.Minute),
	}
}

// newIdentity returns a verified identity with every field set.
func newIdentity(id, flex string) *broker.Identity {
	return &broker.Identity{
		ID:             id,
		FlexIdentity:   flex,
		HolderDID:      "did:key:z6Mk" + flex,
		IssuerDID:      "did:web:issuer.example",
		CredentialType: "VerifiedCustomer",
		Claims:         map[string]any{"given_name": "Ada", "customer_number": "C-1", "tier": 2.0},
		Policy:         "verified-customer",
		Assurance:      "high",
		ConnectionID:   "conn-" + id,
		SessionID:      "s-" + id,
		CreatedAt:      base.Add(time.Second),
		VerifiedAt:     base.Add(time.Second),
		ExpiresAt:      base.AddDate(1, 0, 0),
	}
}

// withSession opens a fresh store and creates session s1 in it (newSession); it returns both.
func withSession(t *testing.T, open func(t *testing.T) broker.Store) (broker.Store, *broker.Session) {
	t.Helper()
	st, s := open(t), newSession("s1")
	create(t, st, s)
	return st, s
}

// create stores s and fails the test if that does not work.
func create(t *testing.T, st broker.Store, s *broker.Session) {
	t.Helper()
	if err := st.CreateSession(t.Context(), s); err != nil {
		t.Fatalf("CreateSession(%q) = %v", s.ID, err)
	}
}

// move transitions the session from whatever state it is in to status, and returns it.
func move(t *testing.T, st broker.Store, id string, to broker.Status, apply func(*broker.Session)) *broker.Session {
	t.Helper()
	cur := mustSession(t, st, id)
	got, err := st.Transition(t.Context(), id, broker.Transition{From: []broker.Status{cur.Status}, To: to, Apply: apply}, base)
	if err != nil {
		t.Fatalf("Transition(%q, %s → %s) = %v", id, cur.Status, to, err)
	}
	return got
}

func mustSession(t *testing.T, st broker.Store, id string) *broker.Session {
	t.Helper()
	return must(t, "Session", st.Session, id)
}

func mustIdentity(t *testing.T, st broker.Store, id string) *broker.Identity {
	t.Helper()
	return must(t, "Identity", st.Identity, id)
}

// must returns what get, the store method named what, returns for key, and fails the test on
// an error.
func must[T any](t *testing.T, what string, get func(context.Context, string) (T, error), key string) T {
	t.Helper()
	v, err := get(t.Context(), key)
	if err != nil {
		t.Fatalf("%s(%q) = %v", what, key, err)
	}
	return v
}

// stored returns what a store must return for s once it is stored with version v: s itself,
// as JSON, with that version.
func stored(s *broker.Session, v int64) *broker.Session {
	c := *s
	c.Version = v
	return &c
}

// sameJSON fails the test unless want and got encode to the same JSON.
func sameJSON(t *testing.T, what string, want, got any) {
	t.Helper()
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatalf("%s: encoding want: %v", what, err)
	}
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("%s: encoding got: %v", what, err)
	}
	if !bytes.Equal(w, g) {
		t.Errorf("%s differs from what was stored:\n got: %s\nwant: %s", what, g, w)
	}
}

func isNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("%s: error = %v, want one matching broker.ErrNotFound", what, err)
	}
}

func testCreateSession(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("stores Version 1 whatever the input says", func(t *testing.T) {
		for _, in := range []int64{0, 1, 7} {
			st := open(t)
			s := newSession("s1")
			s.Version = in
			create(t, st, s)
			if got := mustSession(t, st, "s1"); got.Version != 1 {
				t.Errorf("input Version %d: stored Version = %d, want 1", in, got.Version)
			}
		}
	})
	t.Run("read back equals what was stored", func(t *testing.T) {
		st := open(t)
		s := newSession("s1")
		s.Reason = "none"
		s.ConnectionID = "conn-1"
		s.ThreadID = "th-1"
		s.IdentityID = "idn-1"
		s.Chat = &broker.Chat{Identity: "hr_abc", ConversationSID: "CH0123"}
		create(t, st, s)
		sameJSON(t, "Session", stored(s, 1), mustSession(t, st, "s1"))
	})
	t.Run("later changes to the caller's session are not stored", func(t *testing.T) {
		st := open(t)
		s := newSession("s1")
		s.Chat = &broker.Chat{Identity: "hr_abc"}
		want := stored(s, 1)
		want.Chat = &broker.Chat{Identity: "hr_abc"}
		want.Invitation = bytes.Clone(s.Invitation)
		create(t, st, s)
		s.Status = broker.StatusClosed
		s.Chat.Identity = "changed"
		s.Invitation[2] = 'X'
		sameJSON(t, "Session", want, mustSession(t, st, "s1"))
	})
	t.Run("duplicate ID is ErrExists and keeps the first session", func(t *testing.T) {
		st := open(t)
		first := newSession("s1")
		create(t, st, first)
		second := newSession("s1")
		second.InvitationID = "inv-other"
		second.Nonce = "other"
		err := st.CreateSession(t.Context(), second)
		if !errors.Is(err, broker.ErrExists) {
			t.Fatalf("second CreateSession = %v, want ErrExists", err)
		}
		sameJSON(t, "Session", stored(first, 1), mustSession(t, st, "s1"))
		_, err = st.SessionByInvitation(t.Context(), "inv-other")
		isNotFound(t, "SessionByInvitation(invitation of the rejected session)", err)
	})
	t.Run("duplicate invitation ID is ErrExists and writes nothing", func(t *testing.T) {
		st := open(t)
		first := newSession("s1")
		create(t, st, first)
		second := newSession("s2")
		second.InvitationID = first.InvitationID
		second.ThreadID = "th-2"
		err := st.CreateSession(t.Context(), second)
		if !errors.Is(err, broker.ErrExists) {
			t.Fatalf("CreateSession with a taken invitation ID = %v, want ErrExists", err)
		}
		_, err = st.Session(t.Context(), "s2")
		isNotFound(t, "Session(rejected session)", err)
		_, err = st.SessionByThread(t.Context(), "th-2")
		isNotFound(t, "SessionByThread(thread of the rejected session)", err)
		got, err := st.SessionByInvitation(t.Context(), first.InvitationID)
		if err != nil {
			t.Fatalf("SessionByInvitation = %v", err)
		}
		sameJSON(t, "SessionByInvitation", stored(first, 1), got)
	})
	t.Run("sessions without invitation ID do not collide", func(t *testing.T) {
		st := open(t)
		for _, id := range []string{"s1", "s2"} {
			s := newSession(id)
			s.InvitationID = ""
			create(t, st, s)
		}
	})
	t.Run("empty ID is an error", func(t *testing.T) {
		st := open(t)
		s := newSession("")
		if err := st.CreateSession(t.Context(), s); err == nil {
			t.Fatal("CreateSession with an empty ID = nil, want an error")
		}
		_, err := st.SessionByInvitation(t.Context(), s.InvitationID)
		isNotFound(t, "SessionByInvitation(invitation of the rejected session)", err)
	})
}

func testLookup(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("by ID, invitation and thread return the stored session", func(t *testing.T) {
		st := open(t)
		s := newSession("s1")
		s.ThreadID = "th-1"
		create(t, st, s)
		create(t, st, newSession("s2")) // a neighbour that must not be returned
		want := stored(s, 1)
		for name, get := range map[string]func() (*broker.Session, error){
			"Session":             func() (*broker.Session, error) { return st.Session(t.Context(), "s1") },
			"SessionByInvitation": func() (*broker.Session, error) { return st.SessionByInvitation(t.Context(), "inv-s1") },
			"SessionByThread":     func() (*broker.Session, error) { return st.SessionByThread(t.Context(), "th-1") },
		} {
			got, err := get()
			if err != nil {
				t.Errorf("%s = %v", name, err)
				continue
			}
			sameJSON(t, name, want, got)
		}
	})
	t.Run("returned sessions are copies", func(t *testing.T) {
		st := open(t)
		s := newSession("s1")
		s.Chat = &broker.Chat{Identity: "hr_abc"}
		create(t, st, s)
		got := mustSession(t, st, "s1")
		got.Status = broker.StatusClosed
		got.Chat.Identity = "changed"
		got.Invitation[2] = 'X'
		sameJSON(t, "Session after changing a returned copy", stored(s, 1), mustSession(t, st, "s1"))
	})
	t.Run("unknown and empty keys are ErrNotFound", func(t *testing.T) {
		st := open(t)
		s := newSession("s1")
		s.ThreadID = "th-1"
		create(t, st, s)
		if _, err := st.Transition(t.Context(), "s1", broker.Transition{
			From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified, Identity: newIdentity("idn-1", "hr_one"),
		}, base); err != nil {
			t.Fatalf("Transition with identity = %v", err)
		}
		ctx := t.Context()
		for _, key := range []string{"unknown", ""} {
			_, err := st.Session(ctx, key)
			isNotFound(t, fmt.Sprintf("Session(%q)", key), err)
			_, err = st.SessionByInvitation(ctx, key)
			isNotFound(t, fmt.Sprintf("SessionByInvitation(%q)", key), err)
			_, err = st.SessionByThread(ctx, key)
			isNotFound(t, fmt.Sprintf("SessionByThread(%q)", key), err)
			_, err = st.Identity(ctx, key)
			isNotFound(t, fmt.Sprintf("Identity(%q)", key), err)
			_, err = st.IdentityByFlex(ctx, key)
			isNotFound(t, fmt.Sprintf("IdentityByFlex(%q)", key), err)
		}
		// Keys of one kind are not keys of another.
		_, err := st.SessionByInvitation(ctx, "s1")
		isNotFound(t, `SessionByInvitation(a session ID)`, err)
		_, err = st.Identity(ctx, "hr_one")
		isNotFound(t, `Identity(a flex identity)`, err)
	})
}

func testTransition(t *testing.T, open func(t *testing.T) broker.Store) {
	// now is in a zone other than UTC and has nanoseconds: stores keep the instant exactly.
	now := time.Date(2031, time.March, 14, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))

	t.Run("success increments Version by one, sets Status and UpdatedAt and runs Apply", func(t *testing.T) {
		st, s := withSession(t, open)
		got, err := st.Transition(t.Context(), "s1", broker.Transition{
			From:  []broker.Status{broker.StatusCreated, broker.StatusInvited},
			To:    broker.StatusConnected,
			Apply: func(s *broker.Session) { s.ConnectionID = "conn-1" },
		}, now)
		if err != nil {
			t.Fatalf("Transition = %v", err)
		}
		if got.Version != 2 || got.Status != broker.StatusConnected || !got.UpdatedAt.Equal(now) {
			t.Errorf("returned Version %d, Status %s, UpdatedAt %v; want 2, connected, %v", got.Version, got.Status, got.UpdatedAt, now)
		}
		want := stored(s, 2)
		want.Status = broker.StatusConnected
		want.ConnectionID = "conn-1"
		want.UpdatedAt = got.UpdatedAt // compared with Equal above: zones may be normalised
		sameJSON(t, "returned session", want, got)

		again := mustSession(t, st, "s1")
		if !again.UpdatedAt.Equal(now) {
			t.Errorf("stored UpdatedAt = %v, want %v", again.UpdatedAt, now)
		}
		want.UpdatedAt = again.UpdatedAt
		sameJSON(t, "stored session", want, again)
	})
	t.Run("each transition increments Version by exactly one", func(t *testing.T) {
		st, _ := withSession(t, open)
		for i, to := range []broker.Status{broker.StatusInvited, broker.StatusConnected, broker.StatusRequested, broker.StatusVerified} {
			got := move(t, st, "s1", to, nil)
			if want := int64(i + 2); got.Version != want {
				t.Fatalf("after transition %d: Version = %d, want %d", i+1, got.Version, want)
			}
		}
	})
	t.Run("Apply sees the stored session", func(t *testing.T) {
		st, s := withSession(t, open)
		move(t, st, "s1", broker.StatusInvited, nil)
		var seen *broker.Session
		_, err := st.Transition(t.Context(), "s1", broker.Transition{
			From:  []broker.Status{broker.StatusInvited},
			To:    broker.StatusConnected,
			Apply: func(s *broker.Session) { c := *s; seen = &c },
		}, now)
		if err != nil {
			t.Fatalf("Transition = %v", err)
		}
		if seen == nil {
			t.Fatal("Apply did not run")
		}
		want := stored(s, 2)
		want.Status = broker.StatusInvited
		sameJSON(t, "session passed to Apply", want, seen)
	})
	t.Run("From not matching is a *StateError matching ErrConflict and writes nothing", func(t *testing.T) {
		st, s := withSession(t, open)
		ident := newIdentity("idn-1", "hr_one")
		_, err := st.Transition(t.Context(), "s1", broker.Transition{
			From: []broker.Status{broker.StatusRequested},
			To:   broker.StatusVerified,
			Apply: func(s *broker.Session) {
				s.Reason = "changed"
				s.ThreadID = "th-1"
				s.InvitationID = "inv-new"
			},
			Identity: ident,
		}, now)
		var se *broker.StateError
		if !errors.As(err, &se) {
			t.Fatalf("Transition = %v, want a *broker.StateError", err)
		}
		if !errors.Is(err, broker.ErrConflict) {
			t.Errorf("Transition = %v, does not match broker.ErrConflict", err)
		}
		if se.SessionID != "s1" || se.Current != broker.StatusCreated || se.To != broker.StatusVerified {
			t.Errorf("StateError = %+v, want {s1 created verified}", *se)
		}
		sameJSON(t, "session after a refused transition", stored(s, 1), mustSession(t, st, "s1"))
		_, err = st.SessionByThread(t.Context(), "th-1")
		isNotFound(t, "SessionByThread(thread set by the refused Apply)", err)
		_, err = st.SessionByInvitation(t.Context(), "inv-new")
		isNotFound(t, "SessionByInvitation(invitation set by the refused Apply)", err)
		if _, err := st.SessionByInvitation(t.Context(), s.InvitationID); err != nil {
			t.Errorf("SessionByInvitation(original invitation) = %v", err)
		}
		_, err = st.IdentityByFlex(t.Context(), "hr_one")
		isNotFound(t, "IdentityByFlex(identity of the refused transition)", err)
		_, err = st.Identity(t.Context(), "idn-1")
		isNotFound(t, "Identity(identity of the refused transition)", err)
	})
	t.Run("Apply changing what only the store sets, or the confirmation code, is an error and writes nothing", func(t *testing.T) {
		st, s := withSession(t, open)
		for field, apply := range map[string]func(*broker.Session){
			"ID":               func(s *broker.Session) { s.ID = "other" },
			"Status":           func(s *broker.Session) { s.Status = broker.StatusClosed },
			"Version":          func(s *broker.Session) { s.Version = 99 },
			"IdentityID":       func(s *broker.Session) { s.IdentityID = "idn-x" },
			"ConfirmationCode": func(s *broker.Session) { s.ConfirmationCode = "ZZZZ"; s.Reason = "changed" },
		} {
			_, err := st.Transition(t.Context(), "s1", broker.Transition{
				From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited, Apply: apply,
			}, now)
			if err == nil || !strings.Contains(err.Error(), field) {
				t.Errorf("Apply changing %s: Transition = %v, want an error naming the field", field, err)
			}
		}
		sameJSON(t, "session after refused transitions", stored(s, 1), mustSession(t, st, "s1"))
	})
	t.Run("empty From allows no state", func(t *testing.T) {
		st, _ := withSession(t, open)
		_, err := st.Transition(t.Context(), "s1", broker.Transition{To: broker.StatusInvited}, now)
		var se *broker.StateError
		if !errors.As(err, &se) {
			t.Fatalf("Transition with no From = %v, want a *broker.StateError", err)
		}
		if got := mustSession(t, st, "s1"); got.Version != 1 {
			t.Errorf("Version = %d, want 1", got.Version)
		}
	})
	t.Run("unknown and empty session IDs are ErrNotFound", func(t *testing.T) {
		st, _ := withSession(t, open)
		for _, id := range []string{"unknown", ""} {
			_, err := st.Transition(t.Context(), id, broker.Transition{
				From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited,
			}, now)
			isNotFound(t, fmt.Sprintf("Transition(%q)", id), err)
		}
	})
	t.Run("thread index follows ThreadID", func(t *testing.T) {
		st, _ := withSession(t, open)
		create(t, st, newSession("s2"))
		move(t, st, "s1", broker.StatusRequested, func(s *broker.Session) { s.ThreadID = "th-1" })
		got, err := st.SessionByThread(t.Context(), "th-1")
		if err != nil {
			t.Fatalf("SessionByThread after Apply set it = %v", err)
		}
		if got.ID != "s1" || got.Version != 2 {
			t.Errorf("SessionByThread = %s v%d, want s1 v2", got.ID, got.Version)
		}
		move(t, st, "s1", broker.StatusRequested, func(s *broker.Session) { s.ThreadID = "th-2" })
		_, err = st.SessionByThread(t.Context(), "th-1")
		isNotFound(t, "SessionByThread(previous thread)", err)
		if got, err := st.SessionByThread(t.Context(), "th-2"); err != nil || got.Version != 3 {
			t.Errorf("SessionByThread(new thread) = %v, %v; want s1 v3", got, err)
		}
		move(t, st, "s1", broker.StatusVerified, func(s *broker.Session) { s.ThreadID = "" })
		_, err = st.SessionByThread(t.Context(), "th-2")
		isNotFound(t, "SessionByThread(cleared thread)", err)
	})
	t.Run("thread index follows a transition that leaves ThreadID alone", func(t *testing.T) {
		st, _ := withSession(t, open)
		move(t, st, "s1", broker.StatusRequested, func(s *broker.Session) { s.ThreadID = "th-1" })
		move(t, st, "s1", broker.StatusVerified, nil)
		got, err := st.SessionByThread(t.Context(), "th-1")
		if err != nil {
			t.Fatalf("SessionByThread = %v", err)
		}
		sameJSON(t, "SessionByThread", mustSession(t, st, "s1"), got)
	})
	t.Run("invitation index follows InvitationID", func(t *testing.T) {
		st, _ := withSession(t, open)
		move(t, st, "s1", broker.StatusInvited, func(s *broker.Session) { s.InvitationID = "inv-new" })
		_, err := st.SessionByInvitation(t.Context(), "inv-s1")
		isNotFound(t, "SessionByInvitation(previous invitation)", err)
		if got, err := st.SessionByInvitation(t.Context(), "inv-new"); err != nil || got.ID != "s1" || got.Version != 2 {
			t.Errorf("SessionByInvitation(new invitation) = %v, %v; want s1 v2", got, err)
		}
		// The old invitation ID is free again.
		s := newSession("s3")
		s.InvitationID = "inv-s1"
		create(t, st, s)
	})
	t.Run("returned session is a copy", func(t *testing.T) {
		st, _ := withSession(t, open)
		got := move(t, st, "s1", broker.StatusInvited, func(s *broker.Session) { s.Chat = &broker.Chat{Identity: "hr_abc"} })
		want := mustSession(t, st, "s1")
		got.Chat.Identity = "changed"
		got.Reason = "changed"
		sameJSON(t, "Session after changing the returned copy", want, mustSession(t, st, "s1"))
	})
}

func testTransitionIdentity(t *testing.T, open func(t *testing.T) broker.Store) {
	verify := func(t *testing.T, st broker.Store, sessionID string, ident *broker.Identity, at time.Time) *broker.Session {
		t.Helper()
		got, err := st.Transition(t.Context(), sessionID, broker.Transition{
			From:     []broker.Status{broker.StatusCreated, broker.StatusRequested},
			To:       broker.StatusVerified,
			Identity: ident,
		}, at)
		if err != nil {
			t.Fatalf("Transition(%q) with identity = %v", sessionID, err)
		}
		return got
	}

	// linked checks a verifying transition of session sid with ident, which returned got: the
	// returned and the stored session, and ident.ID, name the stored identity want, which reads
	// back by ID and by flex identity.
	linked := func(t *testing.T, st broker.Store, sid string, got *broker.Session, ident, want *broker.Identity) {
		t.Helper()
		if got.IdentityID != want.ID {
			t.Errorf("returned IdentityID = %q, want %s", got.IdentityID, want.ID)
		}
		if s := mustSession(t, st, sid); s.IdentityID != want.ID {
			t.Errorf("stored IdentityID = %q, want %s", s.IdentityID, want.ID)
		}
		if ident.ID != want.ID {
			t.Errorf("Identity.ID after the transition = %q, want the stored ID %s", ident.ID, want.ID)
		}
		sameJSON(t, "Identity", want, mustIdentity(t, st, want.ID))
		byFlex, err := st.IdentityByFlex(t.Context(), want.FlexIdentity)
		if err != nil {
			t.Fatalf("IdentityByFlex = %v", err)
		}
		sameJSON(t, "IdentityByFlex", want, byFlex)
	}

	t.Run("new flex identity is stored with the given ID and linked", func(t *testing.T) {
		st, _ := withSession(t, open)
		ident := newIdentity("idn-1", "hr_one")
		want := *ident
		linked(t, st, "s1", verify(t, st, "s1", ident, base), ident, &want)
	})
	t.Run("existing flex identity keeps its ID and CreatedAt and takes every other field", func(t *testing.T) {
		st, _ := withSession(t, open)
		create(t, st, newSession("s2"))
		first := newIdentity("idn-1", "hr_one")
		verify(t, st, "s1", first, base)

		second := newIdentity("idn-2", "hr_one")
		second.IssuerDID = "did:web:other-issuer.example"
		second.CredentialType = "BankCustomer"
		second.Claims = map[string]any{"given_name": "Ada", "tier": 3.0}
		second.Policy = "bank"
		second.Assurance = "substantial"
		second.ConnectionID = "conn-2"
		second.SessionID = "s2"
		second.CreatedAt = base.Add(time.Hour)
		second.VerifiedAt = base.Add(time.Hour)
		second.ExpiresAt = time.Time{}
		want := *second
		want.ID = "idn-1"
		want.CreatedAt = first.CreatedAt

		linked(t, st, "s2", verify(t, st, "s2", second, base.Add(time.Hour)), second, &want)
		_, err := st.Identity(t.Context(), "idn-2")
		isNotFound(t, "Identity(the ID proposed for an existing flex identity)", err)
	})
	t.Run("different flex identities are different records", func(t *testing.T) {
		st, _ := withSession(t, open)
		create(t, st, newSession("s2"))
		verify(t, st, "s1", newIdentity("idn-1", "hr_one"), base)
		verify(t, st, "s2", newIdentity("idn-2", "hr_two"), base)
		for flex, id := range map[string]string{"hr_one": "idn-1", "hr_two": "idn-2"} {
			got, err := st.IdentityByFlex(t.Context(), flex)
			if err != nil || got.ID != id {
				t.Errorf("IdentityByFlex(%q) = %v, %v; want ID %s", flex, got, err, id)
			}
		}
	})
	t.Run("returned identities are copies", func(t *testing.T) {
		st, _ := withSession(t, open)
		ident := newIdentity("idn-1", "hr_one")
		verify(t, st, "s1", ident, base)
		want, _ := st.Identity(t.Context(), "idn-1")
		ident.Claims["given_name"] = "changed by the caller"
		got, err := st.Identity(t.Context(), "idn-1")
		if err != nil {
			t.Fatalf("Identity = %v", err)
		}
		got.Claims["given_name"] = "changed"
		got.HolderDID = "changed"
		sameJSON(t, "Identity after changing copies", want, mustIdentity(t, st, "idn-1"))
	})
	for _, tc := range []struct {
		name, what string
		ident      *broker.Identity
		lookup     func(ctx context.Context, st broker.Store) error // of the identity: ErrNotFound
	}{
		{"empty FlexIdentity is an error and writes nothing", "an empty FlexIdentity", newIdentity("idn-1", ""),
			func(ctx context.Context, st broker.Store) error { _, err := st.Identity(ctx, "idn-1"); return err }},
		{"new identity with an empty ID is an error and writes nothing", "a new identity without ID", newIdentity("", "hr_one"),
			func(ctx context.Context, st broker.Store) error {
				_, err := st.IdentityByFlex(ctx, "hr_one")
				return err
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, s := withSession(t, open)
			_, err := st.Transition(t.Context(), "s1", broker.Transition{
				From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified, Identity: tc.ident,
			}, base)
			if err == nil {
				t.Fatalf("Transition with %s = nil, want an error", tc.what)
			}
			sameJSON(t, "Session", stored(s, 1), mustSession(t, st, "s1"))
			isNotFound(t, "the identity", tc.lookup(t.Context(), st))
		})
	}
}

func testSecret(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("first call stores what generate returns, later calls never call it", func(t *testing.T) {
		st := open(t)
		got, err := st.Secret(t.Context(), "pseudonym", func() ([]byte, error) { return []byte("s3cret"), nil })
		if err != nil || string(got) != "s3cret" {
			t.Fatalf("first Secret = %q, %v; want s3cret", got, err)
		}
		got[0] = 'X' // the returned slice is the caller's
		for range 2 {
			again, err := st.Secret(t.Context(), "pseudonym", func() ([]byte, error) {
				t.Error("generate called although the secret exists")
				return []byte("other"), nil
			})
			if err != nil || string(again) != "s3cret" {
				t.Errorf("later Secret = %q, %v; want s3cret", again, err)
			}
		}
	})
	t.Run("secrets are per name", func(t *testing.T) {
		st := open(t)
		a, errA := st.Secret(t.Context(), "a", func() ([]byte, error) { return []byte("A"), nil })
		b, errB := st.Secret(t.Context(), "b", func() ([]byte, error) { return []byte("B"), nil })
		if errA != nil || errB != nil || string(a) != "A" || string(b) != "B" {
			t.Errorf("Secret(a), Secret(b) = %q %v, %q %v; want A, B", a, errA, b, errB)
		}
	})
	t.Run("a failing generate returns its error and stores nothing", func(t *testing.T) {
		st := open(t)
		boom := errors.New("no entropy")
		_, err := st.Secret(t.Context(), "x", func() ([]byte, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Secret = %v, want an error wrapping the generator's", err)
		}
		got, err := st.Secret(t.Context(), "x", func() ([]byte, error) { return []byte("ok"), nil })
		if err != nil || string(got) != "ok" {
			t.Errorf("Secret after a failed generate = %q, %v; want ok", got, err)
		}
	})
	t.Run("empty name is an error", func(t *testing.T) {
		st := open(t)
		if _, err := st.Secret(t.Context(), "", func() ([]byte, error) { return []byte("x"), nil }); err == nil {
			t.Error("Secret with an empty name = nil error, want an error")
		}
	})
	t.Run("without a generator a missing secret is ErrNotFound; an empty generated secret is an error", func(t *testing.T) {
		st := open(t)
		_, err := st.Secret(t.Context(), "missing", nil)
		isNotFound(t, "Secret(nil generator)", err)
		if _, err := st.Secret(t.Context(), "empty", func() ([]byte, error) { return nil, nil }); err == nil {
			t.Error("Secret with an empty generated value = nil error")
		}
	})
}

func testConcurrency(t *testing.T, open func(t *testing.T) broker.Store, replicas func(t *testing.T, st broker.Store) []broker.Store) {
	// raceTransitions stores session sid, moves it to requested and has racers goroutines try
	// transition trOf(i) on it at once, racer i through stores[i%len(stores)]; it returns the
	// session's Version before the race and the racers' errors.
	raceTransitions := func(t *testing.T, stores []broker.Store, sid string, trOf func(i int) broker.Transition) (int64, []error) {
		ctx := t.Context()
		create(t, stores[0], newSession(sid))
		start := move(t, stores[0], sid, broker.StatusRequested, nil).Version
		return start, race(func(i int) error {
			_, err := stores[i%len(stores)].Transition(ctx, sid, trOf(i), base)
			return err
		})
	}
	requested := []broker.Status{broker.StatusRequested}
	t.Run("racing transitions from one state: exactly one wins", func(t *testing.T) {
		// In each round half the racers verify the session, each with an identity of its own,
		// and half reject it.
		stores := replicas(t, open(t))
		last := stores[len(stores)-1]
		for round := range 5 {
			sid := fmt.Sprintf("s%d", round)
			trOf := func(i int) broker.Transition {
				if i%2 == 0 {
					return broker.Transition{From: requested, To: broker.StatusVerified,
						Identity: newIdentity(fmt.Sprintf("idn-%d-%02d", round, i), fmt.Sprintf("hr_%d_%02d", round, i))}
				}
				return broker.Transition{From: requested, To: broker.StatusRejected, Apply: func(s *broker.Session) { s.Reason = "revoked" }}
			}
			start, errs := raceTransitions(t, stores, sid, trOf)
			wins, won := 0, broker.Status("")
			for i, err := range errs {
				if err == nil {
					wins, won = wins+1, trOf(i).To
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d of %d racing transitions succeeded, want exactly 1", round, wins, racers)
			}
			for _, err := range errs {
				var se *broker.StateError
				switch {
				case err == nil:
				case errors.As(err, &se):
					if se.Current != won {
						t.Errorf("round %d: loser's StateError.Current = %s, want %s", round, se.Current, won)
					}
				default:
					t.Errorf("round %d: loser's error = %v, want a *broker.StateError", round, err)
				}
			}
			if got := mustSession(t, last, sid); got.Version != start+1 || got.Status != won {
				t.Fatalf("round %d: after the race: Version %d, Status %s; want %d, %s", round, got.Version, got.Status, start+1, won)
			}
			if won == broker.StatusRejected {
				_, err := last.Transition(t.Context(), sid, broker.Transition{
					From: []broker.Status{broker.StatusRequested, broker.StatusVerified}, To: broker.StatusVerified,
				}, base)
				if !errors.Is(err, broker.ErrConflict) {
					t.Errorf("round %d: rejected session verified afterwards: %v", round, err)
				}
			}
			if ids, err := last.ListIdentities(t.Context(), broker.IdentityFilter{}, "", 1000); err != nil || len(ids) > round+1 {
				t.Errorf("round %d: %d identities stored, want at most one per round (%v)", round, len(ids), err)
			}
		}
	})
	t.Run("racing transitions that all match lose no update", func(t *testing.T) {
		stores := replicas(t, open(t))
		start, errs := raceTransitions(t, stores, "s1", func(int) broker.Transition {
			return broker.Transition{
				From:  []broker.Status{broker.StatusRequested, broker.StatusVerified},
				To:    broker.StatusRequested,
				Apply: func(s *broker.Session) { s.Reason += "+" },
			}
		})
		wins := 0
		for _, err := range errs {
			if err == nil {
				wins++
			} else {
				t.Logf("racing transition failed: %v", err)
			}
		}
		if wins == 0 {
			t.Fatal("no racing transition succeeded")
		}
		got := mustSession(t, stores[0], "s1")
		if got.Version != start+int64(wins) {
			t.Errorf("after %d successful transitions: Version %d, want %d (lost update)", wins, got.Version, start+int64(wins))
		}
		if got.Reason != strings.Repeat("+", wins) {
			t.Errorf("after %d successful transitions: Apply's counter is %q (%d), want %d (lost update)",
				wins, got.Reason, len(got.Reason), wins)
		}
	})
	t.Run("racing Secret calls all get the same value", func(t *testing.T) {
		st, ctx := open(t), t.Context()
		stores := replicas(t, st)
		var mu sync.Mutex
		generated := map[string]bool{}
		results := make([][]byte, racers)
		errs := race(func(i int) error {
			var err error
			results[i], err = stores[i%len(stores)].Secret(ctx, "x", func() ([]byte, error) {
				v := fmt.Appendf(nil, "secret-%02d", i)
				mu.Lock()
				generated[string(v)] = true
				mu.Unlock()
				return v, nil
			})
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("racer %d: Secret = %v", i, err)
			}
		}
		for i, r := range results {
			if !bytes.Equal(r, results[0]) {
				t.Fatalf("racer %d got %q, racer 0 got %q: want one value for all", i, r, results[0])
			}
		}
		if !generated[string(results[0])] {
			t.Errorf("agreed value %q is not one that a generator returned", results[0])
		}
		again, err := st.Secret(t.Context(), "x", func() ([]byte, error) {
			t.Error("generate called although the secret exists")
			return nil, errors.New("unexpected")
		})
		if err != nil || !bytes.Equal(again, results[0]) {
			t.Errorf("Secret after the race = %q, %v; want %q", again, err, results[0])
		}
	})
}

// race runs f in racers goroutines released at the same moment and returns their errors.
func race(f func(i int) error) []error {
	errs := make([]error, racers)
	var ready, done sync.WaitGroup
	startGun := make(chan struct{})
	for i := range racers {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-startGun
			errs[i] = f(i)
		}()
	}
	ready.Wait()
	close(startGun)
	done.Wait()
	return errs
}
