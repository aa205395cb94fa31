package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// erasuresOf returns st as broker.Erasures, failing the test when it is not one.
func erasuresOf(t *testing.T, st broker.Store) broker.Erasures {
	t.Helper()
	er, ok := st.(broker.Erasures)
	if !ok {
		t.Fatalf("%T does not implement broker.Erasures: erasures could not reach the contact centre", st)
	}
	return er
}

// testErasures checks the erasure records: EraseIdentity erases like DeleteIdentity and, in
// the same step, stores the record planned from the identity and the sessions that verified it
// (their chats, their policies), which Erasure reads back and PutErasure replaces; an expired
// record is not found; an unknown identity stores nothing.
func testErasures(t *testing.T, open func(t *testing.T) broker.Store) {
	ctx := t.Context()
	bind := func(t *testing.T, st broker.Store, sid, chat string) {
		t.Helper()
		if _, err := st.Transition(ctx, sid, broker.Transition{From: []broker.Status{broker.StatusVerified}, To: broker.StatusBound,
			Apply: func(s *broker.Session) { s.Chat = &broker.Chat{Identity: "hr_x", ConversationSID: chat} }}, base); err != nil {
			t.Fatal(err)
		}
	}
	record := func(key string) *broker.Erasure {
		now := time.Now().UTC().Truncate(time.Millisecond)
		return &broker.Erasure{Key: key, Status: broker.ErasurePending, RequestedAt: now, ExpiresAt: now.Add(time.Hour)}
	}

	t.Run("EraseIdentity erases and stores the planned record with the work, atomically", func(t *testing.T) {
		st := open(t)
		er, ob := erasuresOf(t, st), outboxOf(t, st)
		gone, keep := Customer(1, base), Customer(2, base)
		Verify(t, st, "s1", gone, base)
		bind(t, st, "s1", "CH1")
		again := *gone
		again.SessionID = "s2"
		Verify(t, st, "s2", &again, base)
		bind(t, st, "s2", "CH2")
		Verify(t, st, "s3", keep, base)
		bind(t, st, "s3", "CH3")

		e := record(broker.ErasureKey(gone.ID))
		work := newDelivery(1, base)
		work.Kind, work.Endpoint = broker.KindChatErasure, ""
		if err := er.EraseIdentity(ctx, gone.ID, e, work); err != nil {
			t.Fatal(err)
		}
		if e.FlexIdentity != gone.FlexIdentity || !slices.Equal(e.Chats, []string{"CH1", "CH2"}) || !slices.Contains(e.Policies, gone.Policy) {
			t.Errorf("planned record %+v: want flex identity %s, chats CH1 and CH2, policy %s", e, gone.FlexIdentity, gone.Policy)
		}
		got, err := er.Erasure(ctx, e.Key)
		if err != nil {
			t.Fatal(err)
		}
		wantJSON, _ := json.Marshal(e)
		gotJSON, _ := json.Marshal(got)
		if string(wantJSON) != string(gotJSON) {
			t.Errorf("Erasure = %s, want %s", gotJSON, wantJSON)
		}
		if _, err := st.Identity(ctx, gone.ID); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("identity after EraseIdentity: %v, want ErrNotFound", err)
		}
		for _, sid := range []string{"s1", "s2"} {
			if s, err := st.Session(ctx, sid); err != nil || s.IdentityID != "" || s.Chat != nil {
				t.Errorf("session %s after EraseIdentity: %+v, %v; want it scrubbed", sid, s, err)
			}
		}
		if s, _ := st.Session(ctx, "s3"); s == nil || s.Chat == nil || s.Chat.ConversationSID != "CH3" {
			t.Errorf("another customer's session changed: %+v", s)
		}
		due := lease(t, ob, far, 10, time.Minute)
		if len(due) != 1 || due[0].ID != work.ID || due[0].Kind != broker.KindChatErasure {
			t.Errorf("queued after EraseIdentity: %+v, want the work of kind %s", due, broker.KindChatErasure)
		}
	})

	t.Run("unknown identity is ErrNotFound and stores no record", func(t *testing.T) {
		st := open(t)
		er := erasuresOf(t, st)
		e := record(broker.ErasureKey("nobody"))
		if err := er.EraseIdentity(ctx, "nobody", e, newDelivery(1, base)); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("EraseIdentity(unknown) = %v, want ErrNotFound", err)
		}
		if _, err := er.Erasure(ctx, e.Key); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("Erasure after a failed EraseIdentity = %v, want ErrNotFound", err)
		}
	})

	t.Run("PutErasure replaces; unknown and expired keys are ErrNotFound", func(t *testing.T) {
		st := open(t)
		er := erasuresOf(t, st)
		e := record("k1")
		e.FlexIdentity, e.Chats = "hr_x", []string{"CH1"}
		if err := er.PutErasure(ctx, e); err != nil {
			t.Fatal(err)
		}
		done := *e
		done.Status, done.Attempts, done.FlexIdentity, done.Chats, done.CompletedAt = broker.ErasureDone, 2, "", nil, e.RequestedAt.Add(time.Second)
		if err := er.PutErasure(ctx, &done); err != nil {
			t.Fatal(err)
		}
		got, err := er.Erasure(ctx, "k1")
		if err != nil || got.Status != broker.ErasureDone || got.Attempts != 2 || got.FlexIdentity != "" || got.Chats != nil || !got.CompletedAt.Equal(done.CompletedAt) {
			t.Errorf("Erasure after PutErasure = %+v, %v; want the replacement", got, err)
		}
		if _, err := er.Erasure(ctx, "k2"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("Erasure(unknown) = %v, want ErrNotFound", err)
		}
		old := record("k3")
		old.ExpiresAt = time.Now().Add(-time.Minute)
		if err := er.PutErasure(ctx, old); err != nil {
			t.Fatal(err)
		}
		if _, err := er.Erasure(ctx, "k3"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("Erasure(expired) = %v, want ErrNotFound", err)
		}
	})
}
