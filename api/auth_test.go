package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
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

// TestExternalTokenLifetime: a token of the external identity provider is refused, with a
// code of its own, when it never expires, lives longer than allowed or is issued in the future;
// a forged token is refused without saying which of these it would have failed.
func TestExternalTokenLifetime(t *testing.T) {
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	idpKey, _ := jwk.FromRaw(raw)
	_ = idpKey.Set(jwk.KeyIDKey, "idp-1")
	pub, _ := idpKey.PublicKey()
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	otherRaw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherKey, _ := jwk.FromRaw(otherRaw)
	_ = otherKey.Set(jwk.KeyIDKey, "idp-1")

	now := time.Now()
	type claims struct{ iat, nbf, exp time.Time }
	sign := func(t *testing.T, key jwk.Key, c claims) string {
		t.Helper()
		b := jwt.NewBuilder().Issuer("https://idp.example.com").Audience([]string{DefaultAudience}).
			Subject("crm-app").Claim("scope", ScopeIdentitiesRead)
		if !c.iat.IsZero() {
			b = b.IssuedAt(c.iat)
		}
		if !c.nbf.IsZero() {
			b = b.NotBefore(c.nbf)
		}
		if !c.exp.IsZero() {
			b = b.Expiration(c.exp)
		}
		tok, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256, key))
		if err != nil {
			t.Fatal(err)
		}
		return string(signed)
	}
	day := 24 * time.Hour
	tests := []struct {
		name   string
		key    jwk.Key
		max    time.Duration
		claims claims
		code   string // "": accepted; "invalid": refused as any bad token, without a code of its own
	}{
		{"accepted/an hour after iat", idpKey, 0, claims{iat: now, exp: now.Add(time.Hour)}, ""},
		{"accepted/an hour, without iat", idpKey, 0, claims{exp: now.Add(time.Hour)}, ""},
		{"accepted/the default maximum exactly", idpKey, 0, claims{iat: now.Add(-time.Hour), exp: now.Add(-time.Hour + day)}, ""},
		{"accepted/iat and nbf within the clock skew", idpKey, 0, claims{iat: now.Add(10 * time.Second), nbf: now.Add(10 * time.Second), exp: now.Add(time.Hour)}, ""},
		{"token_without_expiry/iat but no exp", idpKey, 0, claims{iat: now}, "token_without_expiry"},
		{"token_without_expiry/neither iat nor exp", idpKey, 0, claims{}, "token_without_expiry"},
		{"token_lifetime_too_long/exp 30 days after iat", idpKey, 0, claims{iat: now, exp: now.Add(30 * day)}, "token_lifetime_too_long"},
		{"token_lifetime_too_long/exp 30 days away, without iat", idpKey, 0, claims{exp: now.Add(30 * day)}, "token_lifetime_too_long"},
		{"token_lifetime_too_long/issued two days ago, an hour left", idpKey, 0, claims{iat: now.Add(-2 * day), exp: now.Add(time.Hour)}, "token_lifetime_too_long"},
		{"token_lifetime_too_long/a configured maximum of 1h", idpKey, time.Hour, claims{iat: now, exp: now.Add(2 * time.Hour)}, "token_lifetime_too_long"},
		{"accepted/within a configured maximum of 1h", idpKey, time.Hour, claims{iat: now, exp: now.Add(50 * time.Minute)}, ""},
		{"token_not_yet_valid/iat in the future", idpKey, 0, claims{iat: now.Add(5 * time.Minute), exp: now.Add(time.Hour)}, "token_not_yet_valid"},
		{"token_not_yet_valid/nbf in the future", idpKey, 0, claims{iat: now, nbf: now.Add(5 * time.Minute), exp: now.Add(time.Hour)}, "token_not_yet_valid"},
		{"invalid/another key, no exp", otherKey, 0, claims{}, "invalid"},
		{"invalid/another key, iat in the future", otherKey, 0, claims{iat: now.Add(time.Hour), exp: now.Add(2 * time.Hour)}, "invalid"},
		{"invalid/expired", idpKey, 0, claims{iat: now.Add(-2 * time.Hour), exp: now.Add(-time.Hour)}, "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, _ := NewSigningKey(bytes.Repeat([]byte{7}, 32))
			a := NewAccessTokens(key, "https://hearro.test", "", &ExternalIssuer{
				Issuer: "https://idp.example.com", Audience: DefaultAudience, MaxLifetime: tt.max,
				Keys: func(context.Context) (jwk.Set, error) { return set, nil }})
			p, err := a.Check(t.Context(), sign(t, tt.key, tt.claims))
			var r *tokenRefusal
			switch tt.code {
			case "":
				if err != nil || p.Subject != "crm-app" || !p.Has(ScopeIdentitiesRead) {
					t.Fatalf("Check = %+v, %v; want accepted", p, err)
				}
			case "invalid":
				if !errors.Is(err, errInvalidAccessToken) || errors.As(err, &r) {
					t.Fatalf("Check = %v; want a plain invalid token", err)
				}
			default:
				if !errors.Is(err, errInvalidAccessToken) || !errors.As(err, &r) || r.code != tt.code {
					t.Fatalf("Check = %v; want refused: %s", err, tt.code)
				}
			}
		})
	}
}
