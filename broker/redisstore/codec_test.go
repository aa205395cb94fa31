package redisstore

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
)

// FuzzIdentityRecord checks that every identity comes back from its record exactly (as JSON,
// which is what the contract compares), whatever its strings — including ones that look like
// the identifiers the codec packs — and that decoding arbitrary bytes never panics.
func FuzzIdentityRecord(f *testing.F) {
	f.Add("hr_otnrjec3phblevj3fs262pfcuvhkkzaw45liuummzambmlk5vnqa", "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH",
		"6f1c2a54-3b1e-4f0e-9a43-000000000001", "01JZ0000000000000000000500", "givenName", "Ada", int64(1700000000123456789), int64(3600), "s1")
	f.Add("hr_OTNR", "did:key:z0OIl", "6F1C2A54-3B1E-4F0E-9A43-000000000001", "01jz0000000000000000000500", "", "", int64(0), int64(-1), "")
	f.Add("hr_", "did:key:z", "x", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "verified-customer", "\xff\x00", int64(-62135596800), int64(45), "a:b")
	f.Fuzz(func(t *testing.T, flex, did, conn, sid, claim, value string, unixNano, offset int64, linked string) {
		at := time.Unix(0, unixNano)
		if offset%86400 != 0 {
			at = at.In(time.FixedZone("", int(offset%86400)))
		} else {
			at = at.UTC()
		}
		in := &broker.Identity{
			ID: "id", FlexIdentity: flex, HolderDID: did, IssuerDID: conn, CredentialType: sid,
			Claims: map[string]any{claim: value, "n": 12.5, "o": map[string]any{"a": []any{true, nil}}},
			Policy: claim, Assurance: value, ConnectionID: conn, SessionID: sid,
			CreatedAt: at, VerifiedAt: at.Add(time.Duration(offset)), ExpiresAt: time.Time{},
		}
		sessions := []string{linked, sid}
		rec, err := encodeIdentityRecord(in, sessions)
		if err != nil {
			t.Fatal(err)
		}
		out, gotSessions, err := decodeIdentityRecord("id", rec)
		if err != nil {
			t.Fatalf("decode = %v", err)
		}
		want, _ := json.Marshal(in)
		got, _ := json.Marshal(out)
		if !bytes.Equal(want, got) {
			t.Fatalf("round trip changed the identity:\n got %s\nwant %s", got, want)
		}
		if !slices.Equal(gotSessions, sessions) {
			t.Fatalf("sessions = %q, want %q", gotSessions, sessions)
		}
		// Garbage and truncations decode to errors, not panics.
		for i := range rec {
			_, _, _ = decodeIdentityRecord("id", rec[:i])
		}
		_, _, _ = decodeIdentityRecord("id", []byte(flex+did+value))
	})
}

func TestSessionRecord(t *testing.T) {
	s := &broker.Session{ID: "s1", Status: broker.StatusBound, Version: 7, Invitation: json.RawMessage(`{"a":1}`)}
	rec, err := encodeSession(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeSession(rec)
	if err != nil || got.Version != 7 || got.Status != broker.StatusBound {
		t.Fatalf("decodeSession = %+v, %v", got, err)
	}
	rec[8]++ // the header's version no longer matches the body's
	if _, err := decodeSession(rec); err == nil {
		t.Error("decodeSession of a record whose header and body disagree = nil error")
	}
}
