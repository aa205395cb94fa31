package api

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

func testTokens(t *testing.T) *AccessTokens {
	t.Helper()
	key, err := NewSigningKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return NewAccessTokens(key, "https://hearro.test", "", nil)
}

// TestCheckRemembersOnlyGoodTokens: a token that passed is trusted from memory until its
// entry runs out, then verified again; a token that failed is never remembered.
func TestCheckRemembersOnlyGoodTokens(t *testing.T) {
	a := testTokens(t)
	ctx := t.Context()
	tok, exp, err := a.Mint("crm", []string{ScopeIdentitiesRead}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.Check(ctx, tok)
	if err != nil || p.Subject != "crm" || !p.Has(ScopeIdentitiesRead) {
		t.Fatalf("Check = %+v, %v", p, err)
	}
	sum := sha256.Sum256([]byte(tok))
	entry, ok := a.checked[sum]
	if !ok || entry.principal != p {
		t.Fatal("a good token is not remembered")
	}
	if until := time.Until(entry.until); until > checkedFor || until < checkedFor-time.Minute || entry.until.After(exp) {
		t.Errorf("remembered until %v (expires %v): want at most a minute, never past expiry", entry.until, exp)
	}

	// From memory: a changed entry is what Check returns while it lasts...
	forged := &Principal{Subject: "from-memory"}
	a.checked[sum] = checkedToken{principal: forged, until: time.Now().Add(time.Minute)}
	if p, _ := a.Check(ctx, tok); p != forged {
		t.Fatalf("Check did not use the remembered entry: %+v", p)
	}
	// ...and once it has run out the token is verified again.
	a.checked[sum] = checkedToken{principal: forged, until: time.Now().Add(-time.Millisecond)}
	if p, _ := a.Check(ctx, tok); p == forged || p.Subject != "crm" {
		t.Fatalf("an entry that ran out was trusted: %+v", p)
	}

	// A token with a broken signature fails, and is not remembered.
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	sig[3] ^= 1
	bad := parts[0] + "." + parts[1] + "." + string(sig)
	for range 2 {
		if _, err := a.Check(ctx, bad); !errors.Is(err, errInvalidAccessToken) {
			t.Fatalf("a broken signature: %v", err)
		}
	}
	if _, ok := a.checked[sha256.Sum256([]byte(bad))]; ok {
		t.Fatal("a bad token was remembered")
	}
	// Another key's token fails too.
	other := testTokens(t)
	other.key, _ = NewSigningKey(bytes.Repeat([]byte{8}, 32))
	foreign, _, _ := other.Mint("crm", []string{ScopeIdentitiesRead}, time.Hour)
	if _, err := a.Check(ctx, foreign); !errors.Is(err, errInvalidAccessToken) {
		t.Fatalf("another key's token: %v", err)
	}
}

// TestCheckMemoryIsBounded: the remembered tokens never exceed maxChecked.
func TestCheckMemoryIsBounded(t *testing.T) {
	a := testTokens(t)
	tok, _, _ := a.Mint("crm", []string{ScopeIdentitiesRead}, time.Hour)
	p, _ := a.Check(t.Context(), tok)
	a.checked = map[[sha256.Size]byte]checkedToken{}
	for i := range maxChecked {
		var k [sha256.Size]byte
		k[0], k[1], k[2] = byte(i), byte(i>>8), byte(i>>16)
		until := time.Now().Add(time.Minute)
		if i%2 == 0 {
			until = time.Now().Add(-time.Second) // half have run out
		}
		a.checked[k] = checkedToken{principal: p, until: until}
	}
	if _, err := a.Check(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	if n := len(a.checked); n != maxChecked/2+1 {
		t.Fatalf("%d remembered after a sweep, want the %d live ones and the new one", n, maxChecked/2)
	}
}
