package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// putIdentity stores ident the only way the contract offers: verifying a fresh session.
func putIdentity(t *testing.T, st broker.Store, ident *broker.Identity) {
	t.Helper()
	s := newSession("s-for-" + ident.ID + "-" + ident.FlexIdentity)
	s.InvitationID = "inv-" + s.ID
	create(t, st, s)
	if _, err := st.Transition(t.Context(), s.ID, broker.Transition{
		From: []broker.Status{broker.StatusCreated}, To: broker.StatusVerified, Identity: ident,
	}, base); err != nil {
		t.Fatalf("verify %s: %v", ident.ID, err)
	}
}

// ulidLike returns sortable IDs like the service's ULIDs: "01J…" + a zero-padded counter.
func ulidLike(i int) string { return fmt.Sprintf("01JTEST%019d", i) }

func ids(list []*broker.Identity) []string {
	out := make([]string, len(list))
	for i, x := range list {
		out[i] = x.ID
	}
	return out
}

// listAll pages through ListIdentities with page size n; between pages it calls between.
func listAll(t *testing.T, st broker.Store, f broker.IdentityFilter, n int, between func(page int)) []string {
	t.Helper()
	var got []string
	after := ""
	for page := 0; ; page++ {
		items, err := st.ListIdentities(t.Context(), f, after, n)
		if err != nil {
			t.Fatalf("ListIdentities(after %q) = %v", after, err)
		}
		if len(items) > n {
			t.Fatalf("ListIdentities returned %d items for limit %d", len(items), n)
		}
		got = append(got, ids(items)...)
		if len(items) < n {
			return got
		}
		after = items[len(items)-1].ID
		if between != nil {
			between(page)
		}
	}
}

func testListIdentities(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("ID order, paged by the last ID seen, stable under inserts", func(t *testing.T) {
		st := open(t)
		var want []string
		for i := 1; i <= 10; i++ {
			putIdentity(t, st, newIdentity(ulidLike(i*10), fmt.Sprintf("hr_%d", i)))
			want = append(want, ulidLike(i*10))
		}
		next := 11
		got := listAll(t, st, broker.IdentityFilter{}, 3, func(page int) {
			// A newer identity (higher ID) appears once, at the end; an insert before the cursor
			// (lower ID, e.g. a clock step back) is not seen and shifts nothing.
			putIdentity(t, st, newIdentity(ulidLike(next*10), fmt.Sprintf("hr_%d", next)))
			want = append(want, ulidLike(next*10))
			next++
			if page == 0 {
				putIdentity(t, st, newIdentity(ulidLike(5), "hr_early"))
			}
		})
		if !slices.Equal(got, want) {
			t.Fatalf("paged IDs\n got %v\nwant %v", got, want)
		}
	})
	t.Run("after is a position: an unknown ID starts after it", func(t *testing.T) {
		st := open(t)
		for i := 1; i <= 4; i++ {
			putIdentity(t, st, newIdentity(ulidLike(i*10), fmt.Sprintf("hr_%d", i)))
		}
		items, err := st.ListIdentities(t.Context(), broker.IdentityFilter{}, ulidLike(25), 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(items); !slices.Equal(got, []string{ulidLike(30), ulidLike(40)}) {
			t.Fatalf("after %s: %v", ulidLike(25), got)
		}
	})
	t.Run("filters: claims as text, issuer, type, verified range half-open", func(t *testing.T) {
		st := open(t)
		mk := func(i int, issuer, typ, member string, tier float64, at time.Time) {
			x := newIdentity(ulidLike(i), fmt.Sprintf("hr_f%d", i))
			x.IssuerDID, x.CredentialType, x.VerifiedAt = issuer, typ, at
			x.Claims = map[string]any{"memberId": member, "tier": tier, "vip": i == 3}
			putIdentity(t, st, x)
		}
		mk(1, "did:web:a", "VerifiedCustomer", "100", 1, base)
		mk(2, "did:web:b", "VerifiedCustomer", "200", 2, base.Add(time.Hour))
		mk(3, "did:web:a", "Employee", "100", 2, base.Add(2*time.Hour))
		mk(4, "did:web:a", "VerifiedCustomer", "300", 2.5, base.Add(3*time.Hour))
		for _, tc := range []struct {
			name string
			f    broker.IdentityFilter
			want []int
		}{
			{"all", broker.IdentityFilter{}, []int{1, 2, 3, 4}},
			{"claim", broker.IdentityFilter{Claims: map[string]string{"memberId": "100"}}, []int{1, 3}},
			{"numeric claim as text", broker.IdentityFilter{Claims: map[string]string{"tier": "2"}}, []int{2, 3}},
			{"fractional claim as text", broker.IdentityFilter{Claims: map[string]string{"tier": "2.5"}}, []int{4}},
			{"boolean claim as text", broker.IdentityFilter{Claims: map[string]string{"vip": "true"}}, []int{3}},
			{"two claims", broker.IdentityFilter{Claims: map[string]string{"memberId": "100", "tier": "1"}}, []int{1}},
			{"unknown claim", broker.IdentityFilter{Claims: map[string]string{"nope": "x"}}, nil},
			{"issuer", broker.IdentityFilter{Issuer: "did:web:a"}, []int{1, 3, 4}},
			{"credential type", broker.IdentityFilter{CredentialType: "Employee"}, []int{3}},
			{"verified since (inclusive)", broker.IdentityFilter{VerifiedSince: base.Add(time.Hour)}, []int{2, 3, 4}},
			{"verified until (exclusive)", broker.IdentityFilter{VerifiedUntil: base.Add(2 * time.Hour)}, []int{1, 2}},
			{"everything at once", broker.IdentityFilter{Issuer: "did:web:a", CredentialType: "VerifiedCustomer",
				Claims: map[string]string{"memberId": "300"}, VerifiedSince: base, VerifiedUntil: base.Add(4 * time.Hour)}, []int{4}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for _, i := range tc.want {
					want = append(want, ulidLike(i))
				}
				for _, n := range []int{1, 2, 100} {
					if got := listAll(t, st, tc.f, n, nil); !slices.Equal(got, want) {
						t.Fatalf("page size %d: %v, want %v", n, got, want)
					}
				}
			})
		}
	})
	t.Run("returned identities are copies equal to the stored ones", func(t *testing.T) {
		st := open(t)
		x := newIdentity(ulidLike(1), "hr_c")
		want := *x
		putIdentity(t, st, x)
		items, err := st.ListIdentities(t.Context(), broker.IdentityFilter{}, "", 1)
		if err != nil || len(items) != 1 {
			t.Fatalf("ListIdentities = %v, %v", items, err)
		}
		sameJSON(t, "listed identity", &want, items[0])
		items[0].Claims["memberId"] = "changed"
		sameJSON(t, "identity after changing a listed copy", &want, mustIdentity(t, st, x.ID))
	})
	t.Run("a non-positive limit is an error", func(t *testing.T) {
		st := open(t)
		if _, err := st.ListIdentities(t.Context(), broker.IdentityFilter{}, "", 0); err == nil {
			t.Fatal("limit 0 accepted")
		}
	})
}

func testDeleteIdentity(t *testing.T, open func(t *testing.T) broker.Store) {
	t.Run("erases the record and every way to it", func(t *testing.T) {
		st := open(t)
		keep := newIdentity(ulidLike(1), "hr_keep")
		gone := newIdentity(ulidLike(2), "hr_gone")
		putIdentity(t, st, keep)
		putIdentity(t, st, gone)
		if err := st.DeleteIdentity(t.Context(), gone.ID); err != nil {
			t.Fatalf("DeleteIdentity = %v", err)
		}
		_, err := st.Identity(t.Context(), gone.ID)
		isNotFound(t, "Identity of an erased identity", err)
		_, err = st.IdentityByFlex(t.Context(), "hr_gone")
		isNotFound(t, "IdentityByFlex of an erased identity", err)
		items, err := st.ListIdentities(t.Context(), broker.IdentityFilter{Claims: map[string]string{"customer_number": "C-1"}}, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(items); !slices.Equal(got, []string{keep.ID}) {
			t.Fatalf("listing after erasure: %v", got)
		}
		sameJSON(t, "the other identity", keep, mustIdentity(t, st, keep.ID))
	})
	t.Run("sessions that verified it keep no reference to it", func(t *testing.T) {
		st := open(t)
		x := newIdentity(ulidLike(1), "hr_sessions")
		putIdentity(t, st, x) // session one
		again := newIdentity(ulidLike(9), "hr_sessions")
		putIdentity(t, st, again) // session two, same customer
		first := "s-for-" + ulidLike(1) + "-hr_sessions"
		second := "s-for-" + ulidLike(9) + "-hr_sessions"
		bound := move(t, st, second, broker.StatusBound, func(s *broker.Session) {
			s.Chat = &broker.Chat{Identity: "hr_sessions", ConversationSID: "CH1"}
			s.ConnectionID = "conn-of-the-erased"
		})
		other := newIdentity(ulidLike(2), "hr_other")
		putIdentity(t, st, other)
		otherSession := mustSession(t, st, "s-for-"+ulidLike(2)+"-hr_other")

		if err := st.DeleteIdentity(t.Context(), x.ID); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{first, second} {
			s := mustSession(t, st, id)
			if s.IdentityID != "" || s.Chat != nil || s.ConnectionID != "" {
				t.Errorf("session %s still refers to the erased identity: identity %q connection %q chat %+v", id, s.IdentityID, s.ConnectionID, s.Chat)
			}
		}
		if s := mustSession(t, st, second); s.Status != broker.StatusBound || s.Version != bound.Version+1 {
			t.Errorf("scrubbed session: status %s version %d, want bound and version %d", s.Status, s.Version, bound.Version+1)
		}
		sameJSON(t, "a session of another identity", otherSession, mustSession(t, st, otherSession.ID))
	})
	t.Run("unknown and empty IDs are ErrNotFound", func(t *testing.T) {
		st := open(t)
		isNotFound(t, "DeleteIdentity(unknown)", st.DeleteIdentity(t.Context(), "nope"))
		isNotFound(t, "DeleteIdentity(\"\")", st.DeleteIdentity(t.Context(), ""))
	})
	t.Run("erasing twice is ErrNotFound the second time", func(t *testing.T) {
		st := open(t)
		putIdentity(t, st, newIdentity(ulidLike(1), "hr_x"))
		if err := st.DeleteIdentity(t.Context(), ulidLike(1)); err != nil {
			t.Fatal(err)
		}
		if err := st.DeleteIdentity(t.Context(), ulidLike(1)); !errors.Is(err, broker.ErrNotFound) {
			t.Fatalf("second DeleteIdentity = %v", err)
		}
	})
	t.Run("the same customer verifying again after erasure gets a new record", func(t *testing.T) {
		st := open(t)
		putIdentity(t, st, newIdentity(ulidLike(1), "hr_again"))
		if err := st.DeleteIdentity(t.Context(), ulidLike(1)); err != nil {
			t.Fatal(err)
		}
		again := newIdentity(ulidLike(2), "hr_again")
		putIdentity(t, st, again)
		if again.ID != ulidLike(2) {
			t.Fatalf("re-verified identity got ID %s, want the new %s", again.ID, ulidLike(2))
		}
		got, err := st.IdentityByFlex(t.Context(), "hr_again")
		if err != nil || got.ID != ulidLike(2) {
			t.Fatalf("IdentityByFlex = %v, %v", got, err)
		}
	})
}
