package storetest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// Record is a record a store must still hold after an erasure: the key of the Dump it is
// under ("" for any key) and a part of its content ("" for any content).
type Record struct{ Key, Holds string }

// Kept is what the erasure case leaves in the store besides the erased customer: another
// customer, the webhook delivery about them still queued, and the erasure's own delivery.
type Kept struct {
	Identity *broker.Identity
	Delivery broker.Delivery
	Erasure  broker.Delivery
}

// NoTrace checks dump, the whole content of a store (or of everything a service keeps) after
// an erasure, as Dump returns it: no key name or content holds a value of gone, and every
// value of kept is in some key name or content, else the dump is blind. The maps' keys name
// the values ("holder DID") for the messages. Every test of "an erasure leaves no trace"
// checks through it, whatever the backend.
func NoTrace(t testing.TB, dump map[string]string, gone, kept map[string]string) {
	t.Helper()
	keys := slices.Sorted(maps.Keys(dump))
	for _, what := range slices.Sorted(maps.Keys(gone)) {
		v := gone[what]
		for _, key := range keys {
			if strings.Contains(key, v) || strings.Contains(dump[key], v) {
				t.Errorf("erased %s %q remains in %q:\n%s", what, v, key, excerpt(key+"\n"+dump[key], v))
			}
		}
	}
	for _, what := range slices.Sorted(maps.Keys(kept)) {
		v := kept[what]
		if !slices.ContainsFunc(keys, func(key string) bool { return strings.Contains(key, v) || strings.Contains(dump[key], v) }) {
			t.Errorf("kept %s %q is in none of %d keys: the dump is blind", what, v, len(dump))
		}
	}
}

// excerpt shows where v occurs in text, with some context, printable.
func excerpt(text, v string) string {
	i := strings.Index(text, v)
	from, to := max(0, i-300), min(len(text), i+len(v)+300)
	return strconv.QuoteToASCII(text[from:to])
}

// Customer returns a verified identity shaped like the service's, verified at at, with values
// unique to i: ULID-sized IDs, a pseudonym, a did:key holder, a connection, and the demo
// credential's default claims (givenName Ada<i>, familyName Lovelace<i>, memberId 10000+i).
// Store tests that need realistic identities beyond the suite use it too.
func Customer(i int, at time.Time) *broker.Identity {
	return &broker.Identity{
		ID:             fmt.Sprintf("01JZ%022d", i),
		FlexIdentity:   broker.Pseudonym([]byte("0123456789abcdef0123456789abcdef"), fmt.Sprintf("did:key:holder-%d", i)),
		HolderDID:      didKey(fmt.Sprint("holder-", i)),
		IssuerDID:      "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
		CredentialType: "VerifiedCustomer",
		Claims:         map[string]any{"givenName": fmt.Sprintf("Ada%d", i), "familyName": fmt.Sprintf("Lovelace%d", i), "memberId": fmt.Sprint(10000 + i)},
		Policy:         "verified-customer",
		Assurance:      "substantial",
		ConnectionID:   fmt.Sprintf("6f1c2a54-3b1e-4f0e-9a43-%012d", i),
		SessionID:      fmt.Sprintf("01JY%022d", i),
		CreatedAt:      at,
		VerifiedAt:     at,
		ExpiresAt:      at.AddDate(1, 0, 0),
	}
}

// didKey returns a well-formed did:key of an Ed25519 key derived from seed.
func didKey(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	pub := ed25519.NewKeyFromSeed(sum[:]).Public().(ed25519.PublicKey)
	return "did:key:z" + base58(append([]byte{0xed, 0x01}, pub...))
}

// base58 encodes b in the Bitcoin alphabet, as multibase 'z' wants.
func base58(b []byte) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	n, radix, mod := new(big.Int).SetBytes(b), big.NewInt(58), new(big.Int)
	var out []byte
	for n.Sign() > 0 {
		n.DivMod(n, radix, mod)
		out = append(out, alphabet[mod.Int64()])
	}
	for _, c := range b {
		if c != 0 {
			break
		}
		out = append(out, alphabet[0])
	}
	slices.Reverse(out)
	return string(out)
}

// testErasureLeavesNoTrace erases a customer who verified twice, was bound to a chat and has
// webhook deliveries about them (Subject their ID) queued, leased and dead, then reads
// everything the store holds (h.Dump: every key, names and contents, whatever its kind) and
// finds nothing of the identity: not its ID, pseudonym, DIDs, connection or claim values (a
// structured one included), nor its deliveries' IDs. Another customer, their queued delivery
// and the erasure's own delivery are all there, where the store keeps them (h.Kept): the dump
// sees data. The erasure's own notify delivery is about no one here: one whose Subject or
// payload is the ID keeps it, by design.
func testErasureLeavesNoTrace(t *testing.T, h Harness) {
	if h.Dump == nil {
		t.Fatal("Harness.Dump is nil: the erasure cannot be checked without reading everything the store holds")
	}
	st := h.Open(t)
	ob := outboxOf(t, st)
	ctx, now := t.Context(), base
	gone, keep := Customer(7, base), Customer(8, base)
	gone.Claims["address"] = map[string]any{"street": "12 Erasure Lane"} // structured claim
	Verify(t, st, "s1", gone, base)
	again := *gone
	again.ID = "01JZ-ignored-for-a-returning-customer"
	again.SessionID = "s2"
	Verify(t, st, "s2", &again, base)
	if _, err := st.Transition(ctx, "s2", broker.Transition{From: []broker.Status{broker.StatusVerified}, To: broker.StatusBound,
		Apply: func(s *broker.Session) { s.Chat = &broker.Chat{Identity: gone.FlexIdentity, ConversationSID: "CH1"} }}, now); err != nil {
		t.Fatal(err)
	}
	Verify(t, st, "s3", keep, base)

	// Webhooks about each customer carry their claims and DIDs: the erased one's are queued,
	// leased and dead; the other's is queued.
	hook := func(id string, ident *broker.Identity, due time.Time) broker.Delivery {
		payload, err := json.Marshal(map[string]any{"type": "identity.verified", "identity": ident.ID,
			"holder": ident.HolderDID, "flex": ident.FlexIdentity, "claims": ident.Claims})
		if err != nil {
			t.Fatal(err)
		}
		return broker.Delivery{ID: id, EventID: "01JEVT" + id, Endpoint: "https://crm.example/hook", Type: "identity.verified",
			Subject: ident.ID, Payload: payload, CreatedAt: now, NextAttempt: due}
	}
	goneHooks := []broker.Delivery{hook("01JDGONEDEAD", gone, now.Add(-2*time.Second)),
		hook("01JDGONELEASED", gone, now.Add(-time.Second)), hook("01JDGONEQUEUED", gone, now.Add(time.Hour))}
	keepHook := hook("01JDKEEPQUEUED", keep, now.Add(time.Hour))
	if _, err := st.Transition(ctx, "s3", broker.Transition{From: []broker.Status{broker.StatusVerified}, To: broker.StatusVerified,
		Outbox: append(goneHooks, keepHook)}, now); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"01JDGONEDEAD", "01JDGONELEASED"} {
		got, err := ob.Lease(ctx, now, 1, time.Hour)
		if err != nil || len(got) != 1 || got[0].ID != want {
			t.Fatalf("Lease = %v, %v; want %s", got, err, want)
		}
		if i == 0 {
			if err := ob.Bury(ctx, got[0]); err != nil {
				t.Fatal(err)
			}
		}
	}
	erased := broker.Delivery{ID: "01JDERASURE", EventID: "01JEVTERASURE", Endpoint: "https://crm.example/hook",
		Type: "identity.erased", Payload: []byte(`{"type":"identity.erased"}`), CreatedAt: now, NextAttempt: now}
	if err := st.DeleteIdentity(ctx, gone.ID, erased); err != nil {
		t.Fatalf("DeleteIdentity = %v", err)
	}

	var where []Record
	if h.Kept != nil {
		where = h.Kept(st, Kept{Identity: keep, Delivery: keepHook, Erasure: erased})
	}
	dump := h.Dump(t, st)
	traces := map[string]string{"identity ID": gone.ID, "pseudonym": gone.FlexIdentity, "holder DID": gone.HolderDID,
		"connection ID": gone.ConnectionID, "structured claim": "12 Erasure Lane"}
	// What every store shows of what it keeps (a store may seal the rest of a record).
	controls := map[string]string{"identity ID": keep.ID, "claim memberId": keep.Claims["memberId"].(string),
		"delivery": keepHook.ID, "erasure's delivery": erased.ID}
	for name, v := range gone.Claims {
		if s, ok := v.(string); ok {
			traces["claim "+name] = s
		}
	}
	for _, d := range goneHooks {
		traces["delivery "+d.ID] = d.ID
	}
	NoTrace(t, dump, traces, controls)
	for _, r := range where {
		if r.Key == "" {
			if !slices.ContainsFunc(slices.Collect(maps.Values(dump)), func(c string) bool { return strings.Contains(c, r.Holds) }) {
				t.Errorf("no key of the %d holds %q", len(dump), r.Holds)
			}
			continue
		}
		if content, ok := dump[r.Key]; !ok || !strings.Contains(content, r.Holds) {
			t.Errorf("key %q: %q (present %v), want it to hold %q", r.Key, content, ok, r.Holds)
		}
	}
}
