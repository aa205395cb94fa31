package anoncreds_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"math/big"
	"os"
	"testing"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// BenchmarkVerify measures one presentation with two revealed attributes and one predicate
// (our prover, the clsignatures-rs mock key, 2048-bit n) next to (a) one Ed25519 signature
// verification and (b) the very modular exponentiations that verification performs (same
// bases, exponents and modulus, recorded from it), done bare with math/big. The ratio
// verify/bare is the overhead of everything that is not exponentiation.
func BenchmarkVerify(b *testing.B) {
	f := loadFixture(b)
	req := request(b, twoAttrsOnePredicate)
	presJSON := prove(b, f, req, []*demoCredential{f.alex}, demoOptions{})
	pres, err := anoncreds.ParsePresentation(presJSON)
	if err != nil {
		b.Fatal(err)
	}
	benchVerifyAndBare(b, req, pres, f.defs)

	b.Run("ed25519", func(b *testing.B) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		msg := make([]byte, 100)
		sig := ed25519.Sign(priv, msg)
		b.ResetTimer()
		for b.Loop() {
			if !ed25519.Verify(pub, msg, sig) {
				b.Fatal("ed25519")
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := anoncreds.ParsePresentation(presJSON); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyLedgerVector is the same for the external ledger presentation (one
// revealed attribute, no predicate).
func BenchmarkVerifyLedgerVector(b *testing.B) {
	read := func(name string) []byte {
		x, err := os.ReadFile("testdata/indysdk-ledger/" + name)
		if err != nil {
			b.Fatal(err)
		}
		return x
	}
	req, err := anoncreds.ParsePresentationRequest(read("request.json"))
	if err != nil {
		b.Fatal(err)
	}
	pres, err := anoncreds.ParsePresentation(read("presentation.json"))
	if err != nil {
		b.Fatal(err)
	}
	s, _ := anoncreds.ParseSchema(read("schema.json"))
	d, _ := anoncreds.ParseCredentialDefinition(read("creddef.json"))
	defs := anoncreds.Definitions{Schemas: map[string]*anoncreds.Schema{pres.Identifiers[0].SchemaID: s},
		CredDefs: map[string]*anoncreds.CredentialDefinition{pres.Identifiers[0].CredDefID: d}}
	benchVerifyAndBare(b, req, pres, defs)
}

func benchVerifyAndBare(b *testing.B, req *anoncreds.PresentationRequest, pres *anoncreds.Presentation, defs anoncreds.Definitions) {
	type exp struct{ base, e, n *big.Int }
	var exps []exp
	if _, err := anoncreds.VerifyRecording(req, pres, defs, func(base, e, n *big.Int) {
		exps = append(exps, exp{new(big.Int).Set(base), new(big.Int).Set(e), n})
	}); err != nil {
		b.Fatal(err)
	}
	bits := 0
	for _, x := range exps {
		bits += x.e.BitLen()
	}
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := anoncreds.Verify(req, pres, defs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bare-exponentiations", func(b *testing.B) {
		for b.Loop() {
			for _, x := range exps {
				new(big.Int).Exp(x.base, x.e, x.n)
			}
		}
		b.ReportMetric(float64(len(exps)), "exps/op")
		b.ReportMetric(float64(bits), "exp-bits/op")
	})
}
