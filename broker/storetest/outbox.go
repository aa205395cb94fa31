package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// The outbox cases pin down broker.Outbox and the ways deliveries enter it (Transition.Outbox,
// DeleteIdentity's notify). The cases pass every time as an argument, far from the wall clock:
// a store compares due times with the now it is given, never with its own clock.

// outboxOf returns st's broker.Outbox. A store that queues Transition.Outbox must let a
// dispatcher lease what it queued, so every broker.Store under test implements it.
func outboxOf(t *testing.T, st broker.Store) broker.Outbox {
	t.Helper()
	ob, ok := st.(broker.Outbox)
	if !ok {
		t.Fatalf("%T does not implement broker.Outbox: the deliveries Transition.Outbox queues could never be sent", st)
	}
	return ob
}

// openOutbox opens a fresh store and returns it with its outbox.
func openOutbox(t *testing.T, open func(t *testing.T) broker.Store) (broker.Store, broker.Outbox) {
	t.Helper()
	st := open(t)
	return st, outboxOf(t, st)
}

// cet is a zone other than UTC: stores keep the instant, and JSON keeps the offset.
var cet = time.FixedZone("CET", 3600)

// far is a moment after every due time these cases use.
var far = base.AddDate(1, 0, 0)

func deliveryID(i int) string { return fmt.Sprintf("01JDLV%020d", i) }

// newDelivery returns delivery i, due at due, with every field set. Its payload is valid JSON
// that json.Marshal would rewrite (spaces, '<', '&', escapes): a store keeps the bytes as given.
func newDelivery(i int, due time.Time) broker.Delivery {
	return broker.Delivery{
		ID:          deliveryID(i),
		EventID:     fmt.Sprintf("01JEVT%020d", i),
		Endpoint:    fmt.Sprintf("https://crm%d.example/hooks/hearro?tenant=a&x=<%d>", i%3, i),
		Type:        "identity.verified",
		Payload:     json.RawMessage(fmt.Sprintf(`{"type": "identity.verified",  "n": %d, "who": "<Smith & Sons>\n\u00e9"}`, i)),
		CreatedAt:   base.In(cet),
		NextAttempt: due,
	}
}

// cloneDelivery returns a copy of d that shares no memory with it.
func cloneDelivery(d broker.Delivery) broker.Delivery {
	d.Payload = bytes.Clone(d.Payload)
	return d
}

// queue stores ds the way the service does: with a transition of a fresh session (named for
// the first delivery), which moves from created to invited.
func queue(t *testing.T, st broker.Store, ds ...broker.Delivery) {
	t.Helper()
	s := newSession("s-" + ds[0].ID)
	create(t, st, s)
	if _, err := st.Transition(t.Context(), s.ID, broker.Transition{
		From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited, Outbox: ds,
	}, base); err != nil {
		t.Fatalf("Transition(%q) queuing %d deliveries = %v", s.ID, len(ds), err)
	}
}

// lease calls Lease and fails the test on an error or more than n deliveries.
func lease(t *testing.T, ob broker.Outbox, now time.Time, n int, d time.Duration) []broker.Delivery {
	t.Helper()
	got, err := ob.Lease(t.Context(), now, n, d)
	if err != nil {
		t.Fatalf("Lease(%v, %d, %v) = %v", now, n, d, err)
	}
	if len(got) > n {
		t.Fatalf("Lease(%v, %d, %v) returned %d deliveries", now, n, d, len(got))
	}
	return got
}

func deliveryIDs(ds []broker.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

// leasedIDs leases up to 100 deliveries at now for a minute and returns their IDs.
func leasedIDs(t *testing.T, ob broker.Outbox, now time.Time) []string {
	t.Helper()
	return deliveryIDs(lease(t, ob, now, 100, time.Minute))
}

// noneDue fails the test if anything can be leased at now.
func noneDue(t *testing.T, ob broker.Outbox, what string, now time.Time) {
	t.Helper()
	if got := leasedIDs(t, ob, now); len(got) != 0 {
		t.Errorf("%s: Lease(%v) = %v, want nothing", what, now, got)
	}
}

// sameDeliveries fails the test unless got are want, in order, as JSON and with byte-identical
// payloads.
func sameDeliveries(t *testing.T, what string, want, got []broker.Delivery) {
	t.Helper()
	if !slices.Equal(deliveryIDs(got), deliveryIDs(want)) {
		t.Fatalf("%s: IDs %v, want %v", what, deliveryIDs(got), deliveryIDs(want))
	}
	for i := range want {
		sameJSON(t, fmt.Sprintf("%s: delivery %s", what, want[i].ID), want[i], got[i])
		if !bytes.Equal(got[i].Payload, want[i].Payload) {
			t.Errorf("%s: delivery %s: payload bytes\n got: %q\nwant: %q", what, want[i].ID, got[i].Payload, want[i].Payload)
		}
	}
}

// bury queues ds, leases them and buries each with attempts and a last error.
func bury(t *testing.T, st broker.Store, ob broker.Outbox, ds ...broker.Delivery) {
	t.Helper()
	queue(t, st, ds...)
	leased := lease(t, ob, far, len(ds), time.Minute)
	if len(leased) != len(ds) {
		t.Fatalf("leased %v to bury, want %v", deliveryIDs(leased), deliveryIDs(ds))
	}
	for _, d := range leased {
		d.Attempts, d.LastError = 12, "HTTP 410 Gone"
		if err := ob.Bury(t.Context(), d); err != nil {
			t.Fatalf("Bury(%s) = %v", d.ID, err)
		}
	}
}

func testTransitionOutbox(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("deliveries are queued with the transition and lease back exactly as given", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		create(t, st, newSession("s1"))
		first := newDelivery(1, base.In(cet))
		first.Attempts, first.LastError = 2, "HTTP 503 from a previous owner"
		second := newDelivery(2, base.Add(time.Nanosecond))
		second.Type, second.Payload = "session.rejected", json.RawMessage(`[1, 2.50, "x"]`)
		want := []broker.Delivery{cloneDelivery(first), cloneDelivery(second)}
		given := []broker.Delivery{first, second}
		if _, err := st.Transition(t.Context(), "s1", broker.Transition{
			From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified,
			Identity: newIdentity("idn-1", "hr_one"), Outbox: given,
		}, base); err != nil {
			t.Fatalf("Transition with Outbox = %v", err)
		}
		// Later changes to the caller's deliveries are not stored.
		given[0].Payload[1] = 'X'
		given[1].Endpoint = "https://changed.example"
		sameDeliveries(t, "Lease", want, lease(t, ob, far, 10, time.Minute))
	})
	t.Run("a refused transition queues nothing", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			session string
			tr      broker.Transition
			want    error // nil: any error
		}{
			{"state conflict", "s1", broker.Transition{From: []broker.Status{broker.StatusInvited}, To: broker.StatusVerified}, broker.ErrConflict},
			{"unknown session", "nope", broker.Transition{From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified}, broker.ErrNotFound},
			{"identity without FlexIdentity", "s1", broker.Transition{From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified,
				Identity: newIdentity("idn-1", "")}, nil},
			{"Apply taking another session's invitation ID", "s1", broker.Transition{From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited,
				Apply: func(s *broker.Session) { s.InvitationID = "inv-s2" }}, broker.ErrExists},
		} {
			t.Run(tc.name, func(t *testing.T) {
				st, ob := openOutbox(t, open)
				s := newSession("s1")
				create(t, st, s)
				create(t, st, newSession("s2"))
				tc.tr.Outbox = []broker.Delivery{newDelivery(1, base), newDelivery(2, base)}
				_, err := st.Transition(t.Context(), tc.session, tc.tr, base)
				if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("Transition = %v, want an error matching %v", err, tc.want)
				}
				noneDue(t, ob, "after the refused transition", far)
				sameJSON(t, "Session", stored(s, 1), mustSession(t, st, "s1"))
			})
		}
	})
	t.Run("a delivery without ID is an error and the transition writes nothing", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		s := newSession("s1")
		create(t, st, s)
		empty := newDelivery(2, base)
		empty.ID = ""
		_, err := st.Transition(t.Context(), "s1", broker.Transition{
			From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited,
			Outbox: []broker.Delivery{newDelivery(1, base), empty},
		}, base)
		if err == nil {
			t.Fatal("Transition queuing a delivery without ID = nil error")
		}
		sameJSON(t, "Session", stored(s, 1), mustSession(t, st, "s1"))
		noneDue(t, ob, "after the refused transition", far)
	})
	t.Run("a delivery whose ID is queued, dead or given twice is ErrExists and the transition writes nothing", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		queue(t, st, newDelivery(1, far))     // stays queued
		bury(t, st, ob, newDelivery(2, base)) // dead
		s := newSession("s1")
		create(t, st, s)
		for name, taken := range map[string][]broker.Delivery{
			"queued":      {newDelivery(1, base)},
			"dead":        {newDelivery(2, base)},
			"given twice": {newDelivery(4, base), newDelivery(4, base)},
		} {
			_, err := st.Transition(t.Context(), "s1", broker.Transition{
				From: []broker.Status{broker.StatusCreated}, To: broker.StatusInvited,
				Outbox: append([]broker.Delivery{newDelivery(3, base)}, taken...),
			}, base)
			if !errors.Is(err, broker.ErrExists) {
				t.Errorf("%s: Transition = %v, want ErrExists", name, err)
			}
		}
		sameJSON(t, "Session", stored(s, 1), mustSession(t, st, "s1"))
		if got := leasedIDs(t, ob, far); !slices.Equal(got, []string{deliveryID(1)}) {
			t.Errorf("queued after the refused transitions: %v, want only %s", got, deliveryID(1))
		}
	})
	t.Run("a delivery is due at NextAttempt, not before", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		d := newDelivery(1, base.In(cet)) // due instants compare across zones
		queue(t, st, d)
		noneDue(t, ob, "a nanosecond before NextAttempt", base.Add(-time.Nanosecond))
		sameDeliveries(t, "Lease at NextAttempt", []broker.Delivery{d}, lease(t, ob, base, 10, time.Minute))
	})
}

// erasuresFindNothing erases erased (which is erased already), an unknown ID and "", each with
// a notify delivery (first, first+1, first+2), and checks that each is ErrNotFound.
func erasuresFindNothing(t *testing.T, st broker.Store, erased string, first int) {
	t.Helper()
	for i, c := range []struct{ name, id string }{{"erased before", erased}, {"unknown", "nope"}, {`""`, ""}} {
		isNotFound(t, "DeleteIdentity("+c.name+")", st.DeleteIdentity(t.Context(), c.id, newDelivery(first+i, base)))
	}
}

// unchanged checks that the outbox holds the dead letters dead and the queued deliveries
// queued, and leases the queued ones.
func unchanged(t *testing.T, ob broker.Outbox, dead, queued []broker.Delivery) {
	t.Helper()
	sameDeliveries(t, "dead letters", dead, deadLetters(t, ob))
	sameDeliveries(t, "queued", queued, lease(t, ob, far, 100, time.Minute))
}

func testDeleteIdentityNotify(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("queues the deliveries with the erasure", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		ident := newIdentity(ulidLike(1), "hr_erased")
		putIdentity(t, st, ident)
		first, second := newDelivery(1, base), newDelivery(2, base.Add(time.Second).In(cet))
		first.Type, second.Type = "identity.erased", "identity.erased"
		want := []broker.Delivery{cloneDelivery(first), cloneDelivery(second)}
		if err := st.DeleteIdentity(t.Context(), ident.ID, first, second); err != nil {
			t.Fatalf("DeleteIdentity with notify = %v", err)
		}
		_, err := st.Identity(t.Context(), ident.ID)
		isNotFound(t, "Identity after the erasure", err)
		sameDeliveries(t, "Lease", want, lease(t, ob, far, 10, time.Minute))
	})
	t.Run("an erasure that finds nothing queues nothing", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		putIdentity(t, st, newIdentity(ulidLike(1), "hr_once"))
		if err := st.DeleteIdentity(t.Context(), ulidLike(1), newDelivery(1, base)); err != nil {
			t.Fatalf("first DeleteIdentity = %v", err)
		}
		erasuresFindNothing(t, st, ulidLike(1), 2)
		if got := leasedIDs(t, ob, far); !slices.Equal(got, []string{deliveryID(1)}) {
			t.Errorf("queued: %v, want only the first erasure's %s", got, deliveryID(1))
		}
	})
}

func testLease(t *testing.T, open func(t *testing.T) broker.Store, replicas func(t *testing.T, st broker.Store) []broker.Store) {
	t.Run("oldest due first, by NextAttempt then ID, at most n", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		hour := base.Add(-time.Hour)
		due := map[int]time.Time{
			7: base.Add(-2 * time.Hour),
			3: hour,
			5: hour.In(cet),                      // same instant as 3: after it by ID
			4: hour.Add(time.Nanosecond),         // lower ID than 5 but a nanosecond later
			1: hour.Add(time.Millisecond),        // lowest ID, later still
			6: base,                              // due exactly now
			2: base.Add(time.Nanosecond).In(cet), // not due
			8: base.Add(time.Hour),               // not due
		}
		d := func(i int) broker.Delivery { return newDelivery(i, due[i]) }
		queue(t, st, d(2), d(6), d(1))
		queue(t, st, d(5), d(8), d(7))
		queue(t, st, d(4), d(3))
		sameDeliveries(t, "first Lease", []broker.Delivery{d(7), d(3), d(5), d(4)}, lease(t, ob, base, 4, time.Minute))
		sameDeliveries(t, "second Lease", []broker.Delivery{d(1), d(6)}, lease(t, ob, base, 4, time.Minute))
		noneDue(t, ob, "third Lease", base)
	})
	t.Run("a leased delivery is hidden from Lease until now+lease, then handed out again", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		d, e := newDelivery(1, base), newDelivery(2, base.Add(10*time.Second))
		queue(t, st, d, e)
		sameDeliveries(t, "Lease", []broker.Delivery{d}, lease(t, ob, base, 10, 30*time.Second))
		sameDeliveries(t, "Lease while d is leased", []broker.Delivery{e}, lease(t, ob, base.Add(10*time.Second), 10, time.Hour))
		noneDue(t, ob, "just before the lease ends", base.Add(30*time.Second-time.Nanosecond))
		sameDeliveries(t, "Lease when the lease ends", []broker.Delivery{d}, lease(t, ob, base.Add(30*time.Second), 10, 30*time.Second))
		noneDue(t, ob, "just before the second lease ends", base.Add(time.Minute-time.Nanosecond))
		sameDeliveries(t, "Lease when the second lease ends", []broker.Delivery{d}, lease(t, ob, base.Add(time.Minute), 10, 30*time.Second))
	})
	t.Run("racing Lease calls never hand out a delivery twice within its lease", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		var obs []broker.Outbox // racer i leases through obs[i%len(obs)]: st's, its replicas'
		for _, r := range replicas(t, st) {
			obs = append(obs, outboxOf(t, r))
		}
		const total = 150
		var all []broker.Delivery
		for i := range total {
			all = append(all, about(newDelivery(i+1, base.Add(-time.Duration(i%7)*time.Millisecond)), ulidLike(i%5)))
		}
		for i := 0; i < total; i += 50 {
			queue(t, st, all[i:i+50]...)
		}
		got := make([][]string, racers)
		errs := race(func(i int) error {
			// Each racer leases until nothing is left; a store that hands deliveries out again
			// would never run dry, so a racer stops after more calls than can be needed.
			for range total {
				ds, err := obs[i%len(obs)].Lease(t.Context(), base, 3, time.Minute)
				if err != nil || len(ds) == 0 {
					return err
				}
				got[i] = append(got[i], deliveryIDs(ds)...)
			}
			return errors.New("Lease still returns deliveries after more calls than there are deliveries")
		})
		count := map[string]int{}
		for i, err := range errs {
			if err != nil {
				t.Errorf("racer %d: Lease = %v", i, err)
			}
			for _, id := range got[i] {
				count[id]++
			}
		}
		for _, d := range all {
			if n := count[d.ID]; n != 1 {
				t.Errorf("delivery %s was leased %d times, want once", d.ID, n)
			}
		}
		if len(count) != total {
			t.Errorf("%d distinct deliveries leased, want %d", len(count), total)
		}
		noneDue(t, ob, "just before the leases end", base.Add(time.Minute-time.Nanosecond))
		if got := lease(t, ob, base.Add(time.Minute), total, time.Minute); len(got) != total {
			t.Errorf("when the leases end, %d deliveries are leased again, want %d", len(got), total)
		}
	})
	t.Run("n and lease must be positive", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		d := newDelivery(1, base)
		queue(t, st, d)
		for _, tc := range []struct {
			n     int
			lease time.Duration
		}{{0, time.Minute}, {-1, time.Minute}, {1, 0}, {1, -time.Second}} {
			if got, err := ob.Lease(t.Context(), base, tc.n, tc.lease); err == nil {
				t.Errorf("Lease(n %d, lease %v) = %v, nil; want an error", tc.n, tc.lease, deliveryIDs(got))
			}
		}
		sameDeliveries(t, "Lease after the refused calls", []broker.Delivery{d}, lease(t, ob, base, 1, time.Minute))
	})
}

func testDone(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("removes the delivery, leased or not; unknown IDs are not an error", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		queue(t, st, newDelivery(1, base), newDelivery(2, base), newDelivery(3, base.Add(time.Hour)))
		if got := leasedIDs(t, ob, base); !slices.Equal(got, []string{deliveryID(1), deliveryID(2)}) {
			t.Fatalf("Lease = %v", got)
		}
		for _, id := range []string{deliveryID(1), deliveryID(3), deliveryID(1), "unknown", ""} {
			if err := ob.Done(t.Context(), id); err != nil {
				t.Errorf("Done(%q) = %v", id, err)
			}
		}
		if got := leasedIDs(t, ob, far); !slices.Equal(got, []string{deliveryID(2)}) {
			t.Errorf("after Done of the others: %v, want only %s", got, deliveryID(2))
		}
	})
	t.Run("dead letters are not removed", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		bury(t, st, ob, newDelivery(1, base))
		if err := ob.Done(t.Context(), deliveryID(1)); err != nil {
			t.Fatalf("Done(a dead letter) = %v", err)
		}
		got, err := ob.DeadLetters(t.Context(), "", 10)
		if err != nil || !slices.Equal(deliveryIDs(got), []string{deliveryID(1)}) {
			t.Errorf("DeadLetters after Done = %v, %v", deliveryIDs(got), err)
		}
	})
}

// withDone opens a store whose outbox queued delivery 1, which is done.
func withDone(t *testing.T, open func(t *testing.T) broker.Store) (broker.Store, broker.Outbox) {
	t.Helper()
	st, ob := openOutbox(t, open)
	queue(t, st, newDelivery(1, base))
	if err := ob.Done(t.Context(), deliveryID(1)); err != nil {
		t.Fatal(err)
	}
	return st, ob
}

func testRetry(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("stores Attempts, NextAttempt and LastError, keeps the rest, and is due at NextAttempt", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		d := newDelivery(1, base)
		queue(t, st, d)
		got := lease(t, ob, base, 1, time.Hour)
		if len(got) != 1 {
			t.Fatalf("Lease = %v", deliveryIDs(got))
		}
		// A retry sooner than the lease ends: the new due time replaces the lease.
		r := got[0]
		r.Attempts, r.NextAttempt, r.LastError = 1, base.Add(10*time.Second).In(cet), "HTTP 503"
		r.EventID, r.Endpoint, r.Type, r.Payload, r.CreatedAt = "other", "https://other.example", "other", json.RawMessage(`{}`), base
		if err := ob.Retry(t.Context(), r); err != nil {
			t.Fatalf("Retry = %v", err)
		}
		want := cloneDelivery(d)
		want.Attempts, want.NextAttempt, want.LastError = 1, r.NextAttempt, "HTTP 503"
		noneDue(t, ob, "just before NextAttempt", r.NextAttempt.Add(-time.Nanosecond))
		sameDeliveries(t, "Lease at NextAttempt", []broker.Delivery{want}, lease(t, ob, r.NextAttempt, 10, time.Minute))

		// A retry later than the lease ends, clearing LastError.
		r = want
		r.Attempts, r.NextAttempt, r.LastError = 2, base.Add(2*time.Hour), ""
		if err := ob.Retry(t.Context(), r); err != nil {
			t.Fatalf("second Retry = %v", err)
		}
		want.Attempts, want.NextAttempt, want.LastError = 2, r.NextAttempt, ""
		noneDue(t, ob, "after the lease, before the second NextAttempt", r.NextAttempt.Add(-time.Nanosecond))
		sameDeliveries(t, "Lease at the second NextAttempt", []broker.Delivery{want}, lease(t, ob, r.NextAttempt, 10, time.Minute))
	})
	t.Run("a delivery that is not queued is ErrNotFound", func(t *testing.T) {
		st, ob := withDone(t, open)
		bury(t, st, ob, newDelivery(2, base))
		for name, d := range map[string]broker.Delivery{
			"unknown": newDelivery(3, base), "done": newDelivery(1, base), "buried": newDelivery(2, base),
		} {
			d.Attempts, d.LastError = 1, "timeout"
			isNotFound(t, "Retry("+name+")", ob.Retry(t.Context(), d))
		}
		noneDue(t, ob, "after the refused retries", far)
	})
}

func testBury(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("moves the delivery to the dead letters with its final Attempts and LastError", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		d := newDelivery(1, base)
		queue(t, st, d, newDelivery(2, base))
		got := lease(t, ob, base, 1, time.Minute)
		if len(got) != 1 {
			t.Fatalf("Lease = %v", deliveryIDs(got))
		}
		b := got[0]
		b.Attempts, b.LastError = 8, "HTTP 410 Gone"
		b.EventID, b.Endpoint, b.Type, b.Payload = "other", "https://other.example", "other", json.RawMessage(`{}`)
		if err := ob.Bury(t.Context(), b); err != nil {
			t.Fatalf("Bury = %v", err)
		}
		if got := leasedIDs(t, ob, far); !slices.Equal(got, []string{deliveryID(2)}) {
			t.Errorf("Lease after Bury = %v, want only %s", got, deliveryID(2))
		}
		dead, err := ob.DeadLetters(t.Context(), "", 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("DeadLetters = %v, %v; want the buried delivery", deliveryIDs(dead), err)
		}
		want := cloneDelivery(d)
		want.Attempts, want.LastError = 8, "HTTP 410 Gone"
		want.NextAttempt = dead[0].NextAttempt // the contract does not say which NextAttempt a dead letter keeps
		sameDeliveries(t, "DeadLetters", []broker.Delivery{want}, dead)

		isNotFound(t, "Retry(buried)", ob.Retry(t.Context(), b))
		isNotFound(t, "Bury(buried)", ob.Bury(t.Context(), b))
		if dead, err := ob.DeadLetters(t.Context(), "", 10); err != nil || len(dead) != 1 {
			t.Errorf("DeadLetters after the refused calls = %v, %v", deliveryIDs(dead), err)
		}
	})
	t.Run("a delivery that is not queued is ErrNotFound", func(t *testing.T) {
		_, ob := withDone(t, open)
		isNotFound(t, "Bury(done)", ob.Bury(t.Context(), newDelivery(1, base)))
		isNotFound(t, "Bury(unknown)", ob.Bury(t.Context(), newDelivery(2, base)))
		if dead, err := ob.DeadLetters(t.Context(), "", 10); err != nil || len(dead) != 0 {
			t.Errorf("DeadLetters = %v, %v; want none", deliveryIDs(dead), err)
		}
	})
}

func testDeadLetters(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("ID order, paged after the last ID seen; after is a position", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		for _, i := range []int{5, 2, 7, 1, 3, 6, 4} {
			bury(t, st, ob, newDelivery(i, base.Add(-time.Duration(i)*time.Second)))
		}
		var all []string
		for i := 1; i <= 7; i++ {
			all = append(all, deliveryID(i))
		}
		var got []string
		after := ""
		for {
			page, err := ob.DeadLetters(t.Context(), after, 3)
			if err != nil {
				t.Fatalf("DeadLetters(after %q) = %v", after, err)
			}
			if len(page) > 3 {
				t.Fatalf("DeadLetters returned %d for limit 3", len(page))
			}
			got = append(got, deliveryIDs(page)...)
			if len(page) < 3 {
				break
			}
			after = page[len(page)-1].ID
		}
		if !slices.Equal(got, all) {
			t.Fatalf("paged dead letters\n got %v\nwant %v", got, all)
		}
		for _, tc := range []struct {
			after string
			want  []string
		}{
			{deliveryID(3) + "5", all[3:]}, // between 3 and 4
			{deliveryID(7), nil},
			{"~", nil},
			{"0", all},
		} {
			page, err := ob.DeadLetters(t.Context(), tc.after, 10)
			if err != nil || !slices.Equal(deliveryIDs(page), tc.want) {
				t.Errorf("DeadLetters(after %q) = %v, %v; want %v", tc.after, deliveryIDs(page), err, tc.want)
			}
		}
	})
	t.Run("none yet is an empty list", func(t *testing.T) {
		ob := outboxOf(t, open(t))
		if got, err := ob.DeadLetters(t.Context(), "", 10); err != nil || len(got) != 0 {
			t.Errorf("DeadLetters = %v, %v; want none", deliveryIDs(got), err)
		}
	})
	t.Run("a non-positive limit is an error", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		bury(t, st, ob, newDelivery(1, base))
		for _, limit := range []int{0, -1} {
			if _, err := ob.DeadLetters(t.Context(), "", limit); err == nil {
				t.Errorf("DeadLetters(limit %d) = nil error", limit)
			}
		}
	})
}

// about returns d with Subject set to subject.
func about(d broker.Delivery, subject string) broker.Delivery {
	d.Subject = subject
	return d
}

// deadLetters returns every dead letter (up to 100).
func deadLetters(t *testing.T, ob broker.Outbox) []broker.Delivery {
	t.Helper()
	got, err := ob.DeadLetters(t.Context(), "", 100)
	if err != nil {
		t.Fatalf("DeadLetters = %v", err)
	}
	return got
}

// buried returns what DeadLetters must return for d buried by bury: d with its final Attempts
// and LastError, and the NextAttempt the store kept (the contract does not say which).
func buried(d broker.Delivery, got []broker.Delivery) broker.Delivery {
	d = cloneDelivery(d)
	d.Attempts, d.LastError = 12, "HTTP 410 Gone"
	for _, g := range got {
		if g.ID == d.ID {
			d.NextAttempt = g.NextAttempt
		}
	}
	return d
}

func testSubject(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("Subject is kept through Lease, Retry, Bury and DeadLetters", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		x, y, z := about(newDelivery(1, base), ulidLike(1)), about(newDelivery(2, base), ulidLike(2)), newDelivery(3, base)
		queue(t, st, x, y, z)
		got := lease(t, ob, base, 10, time.Minute)
		sameDeliveries(t, "Lease", []broker.Delivery{x, y, z}, got)

		// Retry and Bury store attempts and errors, not the Subject they are given.
		next := base.Add(time.Second)
		for i, subject := range []string{ulidLike(9), ""} {
			r := got[i]
			r.Subject, r.Attempts, r.NextAttempt, r.LastError = subject, 1, next, "HTTP 503"
			if err := ob.Retry(t.Context(), r); err != nil {
				t.Fatalf("Retry(%s) = %v", r.ID, err)
			}
		}
		for _, d := range []*broker.Delivery{&x, &y} {
			d.Attempts, d.NextAttempt, d.LastError = 1, next, "HTTP 503"
		}
		again := lease(t, ob, next, 10, time.Minute)
		sameDeliveries(t, "Lease after Retry", []broker.Delivery{x, y}, again)

		for _, b := range []broker.Delivery{again[0], got[2]} {
			b.Subject, b.Attempts, b.LastError = "someone-else", 12, "HTTP 410 Gone"
			if err := ob.Bury(t.Context(), b); err != nil {
				t.Fatalf("Bury(%s) = %v", b.ID, err)
			}
		}
		dead := deadLetters(t, ob)
		sameDeliveries(t, "DeadLetters", []broker.Delivery{buried(x, dead), buried(z, dead)}, dead)
		sameDeliveries(t, "Lease after Bury", []broker.Delivery{y}, lease(t, ob, far, 10, time.Minute))
	})
}

// withBuriedSubject opens a store with an identity, gone, and a dead letter about it (1).
func withBuriedSubject(t *testing.T, open func(t *testing.T) broker.Store) (broker.Store, broker.Outbox, *broker.Identity) {
	t.Helper()
	st, ob := openOutbox(t, open)
	gone := newIdentity(ulidLike(1), "hr_gone")
	putIdentity(t, st, gone)
	bury(t, st, ob, about(newDelivery(1, base), gone.ID))
	return st, ob, gone
}

// testSubjectIndex follows the store's index of deliveries by Subject (Harness.Subjects)
// through the outbox: queuing adds a delivery about someone, Retry and Bury keep it, Done of a
// queued delivery takes it out (not Done of a dead letter, which Done does not remove), and the
// erasure of the subject takes out all of theirs, while its own deliveries about them (kept by
// design) are listed anew.
func testSubjectIndex(t *testing.T, h Harness) {
	if h.Subjects == nil {
		t.Fatal("Harness.Subjects is nil: the subject index cannot be followed")
	}
	st := h.Open(t)
	ob := outboxOf(t, st)
	a, b := newIdentity(ulidLike(1), "hr_a"), newIdentity(ulidLike(2), "hr_b")
	putIdentity(t, st, a)
	putIdentity(t, st, b)
	index := func(what string, subject *broker.Identity, want ...int) {
		t.Helper()
		got := h.Subjects(t, st, subject.ID)
		slices.Sort(got)
		var ids []string
		for _, i := range want {
			ids = append(ids, deliveryID(i))
		}
		if !slices.Equal(got, ids) {
			t.Errorf("%s: index of %s's deliveries = %v, want %v", what, subject.FlexIdentity, got, ids)
		}
	}
	queue(t, st, about(newDelivery(1, base), a.ID), about(newDelivery(2, base), a.ID), about(newDelivery(3, base), a.ID),
		newDelivery(4, base), about(newDelivery(5, base), b.ID))
	index("queued", a, 1, 2, 3)
	index("queued", b, 5)
	leased := lease(t, ob, base, 10, time.Minute)
	if len(leased) != 5 {
		t.Fatalf("Lease = %v", deliveryIDs(leased))
	}
	if err := ob.Retry(t.Context(), leased[0]); err != nil {
		t.Fatal(err)
	}
	if err := ob.Bury(t.Context(), leased[1]); err != nil {
		t.Fatal(err)
	}
	index("after Retry and Bury", a, 1, 2, 3)
	for _, i := range []int{2, 3, 4} { // a dead letter, a queued delivery, one about no one
		if err := ob.Done(t.Context(), deliveryID(i)); err != nil {
			t.Fatal(err)
		}
	}
	index("after Done of the dead letter and of a queued delivery", a, 1, 2)
	index("after Done of the dead letter and of a queued delivery", b, 5)
	if err := ob.Done(t.Context(), deliveryID(1)); err != nil {
		t.Fatal(err)
	}
	index("after Done of the last queued delivery", a, 2)

	if err := st.DeleteIdentity(t.Context(), a.ID, about(newDelivery(6, base), a.ID), newDelivery(7, base)); err != nil {
		t.Fatal(err)
	}
	index("after the erasure", a, 6)
	index("after the erasure", b, 5)
	if dead := deadLetters(t, ob); len(dead) != 0 {
		t.Errorf("DeadLetters after the erasure = %v; want none", deliveryIDs(dead))
	}
	if err := ob.Done(t.Context(), deliveryID(6)); err != nil {
		t.Fatal(err)
	}
	index("after Done of the erasure's delivery", a)
}

func testDeleteIdentitySubject(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("removes the subject's deliveries, queued, leased or dead, and keeps the others and the notify deliveries", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		gone, other, third := newIdentity(ulidLike(1), "hr_gone"), newIdentity(ulidLike(2), "hr_other"), newIdentity(ulidLike(3), "hr_third")
		putIdentity(t, st, gone)
		putIdentity(t, st, other)
		putIdentity(t, st, third)
		g := func(i int, due time.Time) broker.Delivery { return about(newDelivery(i, due), gone.ID) }
		o := func(i int, due time.Time) broker.Delivery { return about(newDelivery(i, due), other.ID) }

		// Dead letters: the erased identity's, another's, one about no one.
		bury(t, st, ob, g(1, base), o(2, base), newDelivery(3, base))
		// Queued: the erased identity's 4 (leased below), 5 (not due), 6 (leased, then retried),
		// 7 (queued by the erasure of another identity, as one of its notify deliveries); another
		// identity's 8; one about no one, 9; and 10, which was the erased identity's but was done
		// and whose ID now names a delivery about another identity.
		queue(t, st, g(4, base.Add(-time.Minute)), g(5, base.Add(time.Hour)), g(6, base.Add(-2*time.Minute)),
			o(8, base), newDelivery(9, base), g(10, base.Add(-time.Hour)))
		if err := ob.Done(t.Context(), deliveryID(10)); err != nil {
			t.Fatalf("Done = %v", err)
		}
		queue(t, st, o(10, base))
		if err := st.DeleteIdentity(t.Context(), third.ID, g(7, base)); err != nil {
			t.Fatalf("DeleteIdentity(another identity) = %v", err)
		}
		leased := lease(t, ob, base, 2, time.Hour)
		if !slices.Equal(deliveryIDs(leased), []string{deliveryID(6), deliveryID(4)}) {
			t.Fatalf("Lease = %v, want %s and %s", deliveryIDs(leased), deliveryID(6), deliveryID(4))
		}
		r := leased[0]
		r.Attempts, r.NextAttempt, r.LastError = 1, base.Add(2*time.Hour), "HTTP 503"
		if err := ob.Retry(t.Context(), r); err != nil {
			t.Fatalf("Retry = %v", err)
		}
		deadBefore := deadLetters(t, ob)

		// The erasure's own deliveries stay, whatever their Subject.
		n11, n12 := g(11, base.Add(time.Second)), newDelivery(12, base.Add(time.Second))
		n11.Type, n12.Type = "identity.erased", "identity.erased"
		if err := st.DeleteIdentity(t.Context(), gone.ID, n11, n12); err != nil {
			t.Fatalf("DeleteIdentity = %v", err)
		}
		sameDeliveries(t, "dead letters after the erasure",
			[]broker.Delivery{buried(o(2, base), deadBefore), buried(newDelivery(3, base), deadBefore)}, deadLetters(t, ob))
		sameDeliveries(t, "queued after the erasure",
			[]broker.Delivery{o(8, base), newDelivery(9, base), o(10, base), n11, n12}, lease(t, ob, far, 100, time.Minute))
	})
	t.Run("an erasure that finds no identity removes nothing", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		erased := newIdentity(ulidLike(1), "hr_erased")
		putIdentity(t, st, erased)
		bury(t, st, ob, about(newDelivery(1, base), "nope"), newDelivery(2, base))
		dead := deadLetters(t, ob)
		n3 := about(newDelivery(3, base), erased.ID)
		if err := st.DeleteIdentity(t.Context(), erased.ID, n3); err != nil {
			t.Fatalf("first DeleteIdentity = %v", err)
		}
		queued := []broker.Delivery{n3, about(newDelivery(4, base), erased.ID), about(newDelivery(5, base), "nope"), newDelivery(6, base)}
		queue(t, st, queued[1:]...)
		erasuresFindNothing(t, st, erased.ID, 7)
		unchanged(t, ob, dead, queued)
	})
	t.Run("a refused erasure removes nothing", func(t *testing.T) {
		st, ob, gone := withBuriedSubject(t, open)
		dead := deadLetters(t, ob)
		queued := []broker.Delivery{about(newDelivery(2, base), gone.ID), about(newDelivery(3, base), ulidLike(2))}
		queue(t, st, queued...)
		err := st.DeleteIdentity(t.Context(), gone.ID, newDelivery(4, base), newDelivery(3, base))
		if !errors.Is(err, broker.ErrExists) {
			t.Fatalf("DeleteIdentity with a notify delivery whose ID is queued = %v, want ErrExists", err)
		}
		sameJSON(t, "Identity after the refused erasure", gone, mustIdentity(t, st, gone.ID))
		unchanged(t, ob, dead, queued)
	})
	t.Run("a removed delivery is unknown to Done, Retry and Bury, and its ID is free", func(t *testing.T) {
		st, ob, gone := withBuriedSubject(t, open)
		queue(t, st, about(newDelivery(2, base), gone.ID), about(newDelivery(3, base.Add(time.Hour)), gone.ID))
		leased := lease(t, ob, base, 10, time.Hour)
		if !slices.Equal(deliveryIDs(leased), []string{deliveryID(2)}) {
			t.Fatalf("Lease = %v, want %s", deliveryIDs(leased), deliveryID(2))
		}
		if err := st.DeleteIdentity(t.Context(), gone.ID); err != nil {
			t.Fatalf("DeleteIdentity = %v", err)
		}
		for i := 1; i <= 3; i++ {
			d := about(newDelivery(i, base.Add(time.Minute)), gone.ID)
			d.Attempts, d.LastError = 1, "HTTP 503"
			isNotFound(t, "Retry(removed "+d.ID+")", ob.Retry(t.Context(), d))
			isNotFound(t, "Bury(removed "+d.ID+")", ob.Bury(t.Context(), d))
			if err := ob.Done(t.Context(), d.ID); err != nil {
				t.Errorf("Done(removed %s) = %v, want nil", d.ID, err)
			}
		}
		if dead := deadLetters(t, ob); len(dead) != 0 {
			t.Errorf("dead letters after the erasure: %v, want none", deliveryIDs(dead))
		}
		// Nothing of the removed deliveries is left: their IDs can be queued again, and the new
		// deliveries are due when they say, not when the removed ones were (no Lease before
		// this point: it could drop what an erasure left behind).
		later := far.Add(time.Hour)
		reused := []broker.Delivery{newDelivery(1, later), newDelivery(2, later), newDelivery(3, later)}
		queue(t, st, reused[2], reused[0], reused[1]) // the session queue creates is named for the first
		noneDue(t, ob, "before the reused IDs are due", far)
		sameDeliveries(t, "Lease of the reused IDs", reused, lease(t, ob, later, 10, time.Minute))
		if dead := deadLetters(t, ob); len(dead) != 0 {
			t.Errorf("dead letters after reusing the IDs: %v, want none", deliveryIDs(dead))
		}
	})
}

// testLeaseOwnership: a sender whose lease ran out, and whose delivery another sender has
// leased since, can no longer retry or bury it; the current holder can.
func testLeaseOwnership(t *testing.T, open func(t *testing.T) broker.Store) {
	isLeaseLost := func(t *testing.T, what string, err error) {
		t.Helper()
		if !errors.Is(err, broker.ErrLeaseLost) {
			t.Errorf("%s: error = %v, want one matching broker.ErrLeaseLost", what, err)
		}
	}
	t.Run("a lease that ran out and was taken over", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		queue(t, st, newDelivery(1, base))
		first := lease(t, ob, base, 1, time.Minute)
		// The first sender stalls past its lease; a second sender leases the delivery.
		second := lease(t, ob, base.Add(2*time.Minute), 1, time.Minute)
		if len(first) != 1 || len(second) != 1 {
			t.Fatalf("leases: %v then %v", deliveryIDs(first), deliveryIDs(second))
		}
		if first[0].LeasedUntil.IsZero() || !second[0].LeasedUntil.After(first[0].LeasedUntil) {
			t.Fatalf("LeasedUntil: first %v, second %v", first[0].LeasedUntil, second[0].LeasedUntil)
		}
		stale := first[0]
		stale.Attempts, stale.LastError, stale.NextAttempt = 12, "timeout", base.Add(time.Hour)
		isLeaseLost(t, "Retry by the stale sender", ob.Retry(t.Context(), stale))
		isLeaseLost(t, "Bury by the stale sender", ob.Bury(t.Context(), stale))
		if dead, err := ob.DeadLetters(t.Context(), "", 10); err != nil || len(dead) != 0 {
			t.Fatalf("DeadLetters after the stale Bury = %v, %v; want none", deliveryIDs(dead), err)
		}
		// Still the second sender's: not due again before its lease ends, and its Retry counts.
		noneDue(t, ob, "within the second lease", second[0].LeasedUntil.Add(-time.Nanosecond))
		owner := second[0]
		owner.Attempts, owner.LastError, owner.NextAttempt = 1, "HTTP 503", base.Add(3*time.Hour)
		if err := ob.Retry(t.Context(), owner); err != nil {
			t.Fatalf("Retry by the current holder = %v", err)
		}
		// After its own Retry the holder's lease is over too.
		isLeaseLost(t, "Bury after the holder's own Retry", ob.Bury(t.Context(), owner))
		want := cloneDelivery(newDelivery(1, base))
		want.Attempts, want.LastError, want.NextAttempt = 1, "HTTP 503", owner.NextAttempt
		sameDeliveries(t, "Lease at NextAttempt", []broker.Delivery{want}, lease(t, ob, owner.NextAttempt, 10, time.Minute))
	})
	t.Run("a delivery without a lease is not checked", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		queue(t, st, newDelivery(1, base))
		lease(t, ob, base, 1, time.Minute)
		d := newDelivery(1, base)
		d.Attempts, d.NextAttempt = 1, base.Add(time.Hour)
		if err := ob.Retry(t.Context(), d); err != nil {
			t.Fatalf("Retry without LeasedUntil = %v", err)
		}
	})
	t.Run("Done by a stale sender still removes the delivered event", func(t *testing.T) {
		st, ob := openOutbox(t, open)
		queue(t, st, newDelivery(1, base))
		lease(t, ob, base, 1, time.Minute)
		lease(t, ob, base.Add(2*time.Minute), 1, time.Minute)
		if err := ob.Done(t.Context(), deliveryID(1)); err != nil {
			t.Fatal(err)
		}
		noneDue(t, ob, "after Done", far)
	})
}
