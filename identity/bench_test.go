package identity_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity"
)

// bareEd25519 measures one bare Ed25519 signature check on this machine, now (the median of
// five rounds), the unit the format benchmarks report their cost in.
func bareEd25519() time.Duration {
	pub, priv, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 64)
	sig := ed25519.Sign(priv, msg)
	const n = 500
	rounds := make([]time.Duration, 5)
	for r := range rounds {
		start := time.Now()
		for range n {
			ed25519.Verify(pub, msg, sig)
		}
		rounds[r] = time.Since(start) / n
	}
	slices.Sort(rounds)
	return rounds[2]
}

// BenchmarkVerifyFormats verifies one presentation per format with warm caches (contexts, DID
// documents, status lists) and reports, next to ns/op, the cost in bare Ed25519 checks
// ("ed25519s/op") measured in the same run. JWT and SD-JWT presentations carry two
// signatures (presentation or key binding, and credential).
func BenchmarkVerifyFormats(b *testing.B) {
	w := newWorld(b)
	all := []string{"givenName", "familyName", "memberId"}
	p256 := newP256(b)
	cases := []struct {
		name   string
		raw    []byte
		policy func(*identity.Policy)
	}{
		{"ldp-Ed25519Signature2020", w.ldVP(w.ldVC(w.opts())), nil},
		{"ldp-JsonWebSignature2020-P256", w.ldVP(w.jws2020VC(p256.did, identity.KeyMethodID(p256.did), identity.P256Signer{Key: p256.key})),
			func(p *identity.Policy) { p.TrustedIssuers = []string{p256.did} }},
		{"bbs-derived-proof", w.ldVP(w.bbsVC(all, w.opts())), nil},
		{"jwt-vp", w.jwtVP([]string{w.jwtVC(w.opts())}, nil), nil},
		{"sd-jwt-kb", w.sdPresent(w.sdJWT(w.opts()), all, testChallenge, testDomain), nil},
	}
	b.Run("ed25519-bare", func(b *testing.B) {
		pub, priv, _ := ed25519.GenerateKey(nil)
		msg := make([]byte, 64)
		sig := ed25519.Sign(priv, msg)
		for b.Loop() {
			ed25519.Verify(pub, msg, sig)
		}
	})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			p := w.policy()
			if c.policy != nil {
				c.policy(p)
			}
			v := w.verifier(identity.VerifierConfig{Replay: forgetful{}})
			req := w.req(p)
			if _, err := v.Verify(context.Background(), c.raw, req); err != nil { // warm the caches
				b.Fatal(err)
			}
			bare := bareEd25519()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), c.raw, req); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start) / time.Duration(b.N)
			b.ReportMetric(float64(per)/float64(bare), "ed25519s/op")
		})
	}
}

var _ = json.Marshal
