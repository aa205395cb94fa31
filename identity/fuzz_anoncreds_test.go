package identity_test

import (
	"slices"
	"testing"

	"github.com/hearro/trustbroker/identity/anoncreds/demo"
	"github.com/hearro/trustbroker/identity/anoncreds/registry"
)

// FuzzVerifyAnonCreds: whatever a holder sends, verification does not panic, and the
// registry is asked only for identifiers the policy trusts: credential definitions of the
// trusted issuer, and schemas of that issuer or named by one of its credential definitions.
func FuzzVerifyAnonCreds(f *testing.F) {
	fx := anonCredsFixture(f)
	sent, req := fx.proofRequest(f, "ac")
	f.Add(fx.prove(f, req, demo.Options{}, "a"))
	f.Add(fx.prove(f, req, demo.Options{}, "b"))
	f.Add(fx.prove(f, req, demo.Options{}, "foreign-schema"))
	f.Add([]byte(`{"proof":{"proofs":[],"aggregated_proof":{"c_hash":"1","c_list":[]}},"requested_proof":{},"identifiers":[]}`))
	v := newACVerifier(f)
	f.Fuzz(func(t *testing.T, pres []byte) {
		_, fetched, _ := fx.verify(t, v, "ac", sent, pres)
		for i, id := range fetched {
			parsed, err := registry.ParseID(id)
			if err != nil {
				t.Fatalf("looked up a malformed id %q", id)
			}
			trusted := parsed.Form == registry.FormLegacy && parsed.Nym == nymA
			viaCredDef := id == schemaB && slices.Contains(fetched[:i], credDefA3)
			if !trusted && !viaCredDef {
				t.Fatalf("looked up %q, which the policy does not trust (lookups %v)", id, fetched)
			}
		}
	})
}
