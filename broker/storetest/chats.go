package storetest

import (
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

func testChatLinks(t *testing.T, open func(t *testing.T) broker.Store) {
	bind := func(t *testing.T, st broker.Store, id, chat string) {
		t.Helper()
		create(t, st, newSession(id))
		if err := st.LinkChat(t.Context(), chat, id, base.Add(time.Hour)); err != nil {
			t.Fatalf("LinkChat = %v", err)
		}
		move(t, st, id, broker.StatusBound, func(s *broker.Session) { s.Chat = &broker.Chat{Identity: "hr_x", ConversationSID: chat} })
	}
	sessionIDs := func(t *testing.T, st broker.Store, chat string) []string {
		t.Helper()
		list, err := st.SessionsByChat(t.Context(), chat)
		if err != nil {
			t.Fatalf("SessionsByChat(%s) = %v", chat, err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.ID)
		}
		sort.Strings(out)
		return out
	}
	t.Run("sessions sharing a chat are found by it", func(t *testing.T) {
		st := open(t)
		bind(t, st, "s1", "CH1")
		bind(t, st, "s2", "CH1")
		bind(t, st, "s3", "CH2")
		if got := sessionIDs(t, st, "CH1"); !slices.Equal(got, []string{"s1", "s2"}) {
			t.Fatalf("CH1: %v", got)
		}
		if got := sessionIDs(t, st, "CH2"); !slices.Equal(got, []string{"s3"}) {
			t.Fatalf("CH2: %v", got)
		}
		if got := sessionIDs(t, st, "CH-unknown"); len(got) != 0 {
			t.Fatalf("unknown chat: %v", got)
		}
	})
	t.Run("linking twice is harmless", func(t *testing.T) {
		st := open(t)
		bind(t, st, "s1", "CH1")
		if err := st.LinkChat(t.Context(), "CH1", "s1", base.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := sessionIDs(t, st, "CH1"); !slices.Equal(got, []string{"s1"}) {
			t.Fatalf("CH1: %v", got)
		}
	})
	t.Run("a linked session whose chat is another is not returned", func(t *testing.T) {
		st, _ := withSession(t, open)
		if err := st.LinkChat(t.Context(), "CH1", "s1", base.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		// Linked before the bind, then bound elsewhere (or never, or scrubbed by an erasure).
		if got := sessionIDs(t, st, "CH1"); len(got) != 0 {
			t.Fatalf("a session without that chat: %v", got)
		}
	})
}
