package redisstore_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/broker/storetest"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// listIDs pages through ListIdentities (page size n) and returns the IDs.
func listIDs(t *testing.T, st *redisstore.Store, f broker.IdentityFilter, n int) []string {
	t.Helper()
	var out []string
	after := ""
	for {
		page, err := st.ListIdentities(t.Context(), f, after, n)
		if err != nil {
			t.Fatalf("ListIdentities(%+v, after %q) = %v", f, after, err)
		}
		for _, ident := range page {
			out = append(out, ident.ID)
		}
		if len(page) < n {
			return out
		}
		after = page[len(page)-1].ID
	}
}

// chunkedIdentity is realIdentity(i) with a given name that a third of the identities share.
func chunkedIdentity(i int, now time.Time) *broker.Identity {
	ident := realIdentity(i, now)
	ident.Claims["givenName"] = fmt.Sprint("Ada", i%3)
	return ident
}

// TestIndexChunks stores enough identities, in random order, for every index to span several
// chunks (see luaIndex in scripts.go), and checks that listing — whole, filtered by a claim
// value many share, by one value and by several criteria — pages through exactly the right
// IDs in order, that every chunk stays a listpack, and that erasing a third of the
// identities (among them chunk bounds, which name chunks) leaves none of their IDs behind.
func TestIndexChunks(t *testing.T) {
	const n = 600
	topologies(t, func(t *testing.T, name, url string) {
		st := open(t, url, "")
		now := time.Now()
		for _, i := range rand.Perm(n) {
			verify(t, st, fmt.Sprint("s", i), chunkedIdentity(i, now), now)
		}
		check := func(live func(i int) bool) {
			t.Helper()
			var all, ada1 []string
			for i := range n {
				if live(i) {
					all = append(all, realIdentity(i, now).ID)
					if i%3 == 1 {
						ada1 = append(ada1, realIdentity(i, now).ID)
					}
				}
			}
			issuer := realIdentity(0, now).IssuerDID
			for _, tc := range []struct {
				name string
				f    broker.IdentityFilter
				want []string
			}{
				{"all", broker.IdentityFilter{}, all},
				{"issuer", broker.IdentityFilter{Issuer: issuer}, all},
				{"shared claim value", broker.IdentityFilter{Claims: map[string]string{"givenName": "Ada1"}}, ada1},
				{"shared claim value and type", broker.IdentityFilter{CredentialType: "VerifiedCustomer",
					Claims: map[string]string{"givenName": "Ada1"}}, ada1},
				{"unique claim value", broker.IdentityFilter{Issuer: issuer,
					Claims: map[string]string{"givenName": "Ada1", "memberId": "10301"}}, slices.DeleteFunc([]string{realIdentity(301, now).ID}, func(string) bool { return !live(301) })},
				{"no match", broker.IdentityFilter{Claims: map[string]string{"givenName": "Ada1", "memberId": "10300"}}, nil},
			} {
				for _, page := range []int{7, 128, 1000} {
					if got := listIDs(t, st, tc.f, page); !slices.Equal(got, tc.want) {
						t.Errorf("%s, pages of %d: %d IDs, want %d\n got %q\nwant %q", tc.name, page, len(got), len(tc.want), got, tc.want)
					}
				}
			}
		}
		check(func(int) bool { return true })
		if name == "standalone" {
			ctx, c := t.Context(), st.Client()
			chunks := 0
			iter := c.Scan(ctx, 0, st.Prefix()+":{b}:i[dx]*", 1000).Iterator()
			for iter.Next(ctx) {
				chunks++
				if enc, err := c.ObjectEncoding(ctx, iter.Val()).Result(); err != nil || enc != "listpack" {
					t.Errorf("OBJECT ENCODING %s = %s, %v; want listpack", iter.Val(), enc, err)
				}
			}
			if chunks < 5*3 {
				t.Errorf("%d index keys for %d identities; want several chunks per index", chunks, n)
			}
		}
		for i := 0; i < n; i += 3 {
			if err := st.DeleteIdentity(t.Context(), realIdentity(i, now).ID); err != nil {
				t.Fatalf("DeleteIdentity(%d) = %v", i, err)
			}
		}
		check(func(i int) bool { return i%3 != 0 })
		if name == "standalone" {
			gone, kept := map[string]string{}, map[string]string{}
			for i := range n {
				if id := realIdentity(i, now).ID; i%3 == 0 {
					gone[fmt.Sprint("ID of ", i)] = id
				} else {
					kept[fmt.Sprint("ID of ", i)] = id
				}
			}
			storetest.NoTrace(t, redistest.Dump(t, st.Client(), st.Prefix()), gone, kept)
		}
	})
}

// TestIndexLegacyLayout reads and writes indexes as an earlier version left them: one sorted
// set of all IDs, larger than a chunk, and one sorted set per claim value
// (prefix:{b}:ix:c:<len>:<name><text>). Listing finds them; the first write to a claim value's
// index moves it into the claim's set, the first insert into the large set splits it into
// chunks, and erasure removes an ID from either form.
func TestIndexLegacyLayout(t *testing.T) {
	const n = 200
	st := open(t, redistest.Server(t).URL(), "")
	ctx, c := t.Context(), st.Client()
	now := time.Now()
	for i := range n {
		verify(t, st, fmt.Sprint("s", i), realIdentity(i, now), now)
	}
	// Rewrite the indexes of all IDs and of givenName as the earlier version kept them.
	p := st.Prefix() + ":{b}:"
	legacy := func(base string, member func(m string) (key, id string)) {
		t.Helper()
		keys := []string{p + base, p + "ixd:" + base}
		iter := c.Scan(ctx, 0, p+"ixp:"+fmt.Sprint(len(base))+":"+base+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		var members []string
		for _, key := range keys[2:] {
			members = append(members, c.ZRange(ctx, key, 0, -1).Val()...)
		}
		members = append(members, c.ZRange(ctx, keys[0], 0, -1).Val()...)
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
		for _, m := range members {
			key, id := member(m)
			if err := c.ZAdd(ctx, key, redis.Z{Member: id}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	legacy("ids", func(m string) (string, string) { return p + "ids", m })
	legacy("ixc:9:givenName", func(m string) (string, string) {
		// <len>:<text><ID>; the IDs are 26 characters.
		text := m[strings.IndexByte(m, ':')+1 : len(m)-26]
		return p + "ix:c:9:givenName" + text, m[len(m)-26:]
	})
	if got := c.ZCard(ctx, p+"ids").Val(); got != n {
		t.Fatalf("legacy set of all IDs has %d members, want %d", got, n)
	}
	if enc := c.ObjectEncoding(ctx, p+"ids").Val(); enc != "skiplist" {
		t.Fatalf("legacy set of all IDs is a %s, want a skiplist", enc)
	}
	if c.Exists(ctx, p+"ix:c:9:givenNameAda5").Val() != 1 || c.Exists(ctx, p+"ixc:9:givenName").Val() != 0 {
		t.Fatal("givenName is not in the legacy layout")
	}

	var all []string
	for i := range n {
		all = append(all, realIdentity(i, now).ID)
	}
	given := func(text string) broker.IdentityFilter {
		return broker.IdentityFilter{Claims: map[string]string{"givenName": text}}
	}
	if got := listIDs(t, st, broker.IdentityFilter{}, 50); !slices.Equal(got, all) {
		t.Errorf("list all from the legacy set = %d IDs, want %d", len(got), len(all))
	}
	for _, i := range []int{0, 5, 6, 199} {
		if got := listIDs(t, st, given(fmt.Sprint("Ada", i)), 10); !slices.Equal(got, []string{all[i]}) {
			t.Errorf("list givenName Ada%d from its legacy set = %q, want %s", i, got, all[i])
		}
	}

	// A returning customer with a new given name: the old value's legacy set is moved (and
	// the ID taken out), the new value goes to the claim's set.
	returning := realIdentity(5, now)
	returning.Claims["givenName"] = "Ada5b"
	verify(t, st, "s5b", returning, now)
	if c.Exists(ctx, p+"ix:c:9:givenNameAda5").Val() != 0 {
		t.Error("the legacy set of the value the identity left is still there")
	}
	if got := listIDs(t, st, given("Ada5"), 10); len(got) != 0 {
		t.Errorf("list givenName Ada5 after the change = %q, want none", got)
	}
	if got := listIDs(t, st, given("Ada5b"), 10); !slices.Equal(got, []string{all[5]}) {
		t.Errorf("list givenName Ada5b = %q, want %s", got, all[5])
	}
	// A new identity whose given name has a legacy set: the set is moved into the claim's.
	newcomer := realIdentity(n, now)
	newcomer.Claims["givenName"] = "Ada7"
	verify(t, st, fmt.Sprint("s", n), newcomer, now)
	all = append(all, newcomer.ID)
	if c.Exists(ctx, p+"ix:c:9:givenNameAda7").Val() != 0 {
		t.Error("the legacy set of the value a new identity joined is still there")
	}
	if got := listIDs(t, st, given("Ada7"), 10); !slices.Equal(got, []string{all[7], newcomer.ID}) {
		t.Errorf("list givenName Ada7 = %q, want %s and %s", got, all[7], newcomer.ID)
	}
	// The insert into the large legacy set split it into chunks that are listpacks.
	if enc := c.ObjectEncoding(ctx, p+"ids").Val(); enc != "listpack" {
		t.Errorf("set of all IDs after an insert is a %s, want a listpack chunk", enc)
	}
	if got := listIDs(t, st, broker.IdentityFilter{}, 50); !slices.Equal(got, all) {
		t.Errorf("list all after the split = %d IDs, want %d", len(got), len(all))
	}

	// Erasure takes the ID out of a legacy claim set too.
	if err := st.DeleteIdentity(ctx, all[6]); err != nil {
		t.Fatal(err)
	}
	if c.Exists(ctx, p+"ix:c:9:givenNameAda6").Val() != 0 {
		t.Error("the legacy set of the erased identity's given name is still there")
	}
	if got := listIDs(t, st, given("Ada6"), 10); len(got) != 0 {
		t.Errorf("list givenName Ada6 after erasure = %q, want none", got)
	}
	all = slices.Delete(all, 6, 7)
	if got := listIDs(t, st, broker.IdentityFilter{}, 50); !slices.Equal(got, all) {
		t.Errorf("list all after erasure = %d IDs, want %d", len(got), len(all))
	}
}
