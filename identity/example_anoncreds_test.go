package identity_test

import (
	"fmt"
	"time"

	"github.com/hearro/trustbroker/identity"
)

// A policy's AnonCreds section becomes the proof request sent to the wallet, bound to the
// session by its nonce. The same bytes go back to Verifier.VerifyAnonCreds with the
// presentation.
func ExamplePolicy_AnonCredsProofRequest() {
	policies, err := identity.ParsePolicies([]byte(`
policies:
  - name: over-18
    purpose: Prove you are over 18.
    assurance: substantial
    anoncreds:
      issuers: [did:sov:WgWxqztrNooG92RXvxSTWv]
      attributes: [{name: given_name}]
      predicates: [{attribute: birthdate_dateint, age_at_least: 18}]
      display_claims: [given_name]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p := policies["over-18"]
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	req, err := p.AnonCredsProofRequest("the session's challenge", "https://broker.example", now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(req))
	fmt.Println("W3C credentials too:", p.AsksW3C())
	// Output:
	// {"nonce":"161692858852964765159753535","name":"Prove you are over 18.","version":"1.0","requested_attributes":{"attr_0":{"name":"given_name","restrictions":[{"issuer_did":"WgWxqztrNooG92RXvxSTWv"}]}},"requested_predicates":{"pred_0":{"name":"birthdate_dateint","p_type":"<=","p_value":20081206,"restrictions":[{"issuer_did":"WgWxqztrNooG92RXvxSTWv"}]}}}
	// W3C credentials too: false
}
