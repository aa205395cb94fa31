package identity_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/anoncreds"
)

const anonCredsPolicies = `
policies:
  - name: bc-person
    purpose: Prove you are over 18 and who you are.
    assurance: substantial
    anoncreds:
      issuers: [did:sov:WgWxqztrNooG92RXvxSTWv]
      restrictions:
        - issuer_did: did:indy:sovrin:WpoQirzsNJK2MUZh3NtbF2
          schema_name: hearro-id
          schema_version: "1.0"
      attributes:
        - name: given_name
        - names: [family_name, member_id]
          restrictions: [{cred_def_id: "WgWxqztrNooG92RXvxSTWv:3:CL:20:demo"}]
      predicates:
        - {attribute: birthdate_dateint, p_type: "<=", p_value: 20081205}
        - {attribute: birthdate_dateint, age_at_least: 18}
      non_revoked: required
      display_claims: [given_name, family_name]
    issuer_names:
      did:sov:WgWxqztrNooG92RXvxSTWv: HearRo demo issuer
`

func TestParseAnonCredsPolicy(t *testing.T) {
	ps, err := identity.ParsePolicies([]byte(anonCredsPolicies))
	if err != nil {
		t.Fatal(err)
	}
	p := ps["bc-person"]
	if p == nil || p.AnonCreds == nil || len(p.AnonCreds.Attributes) != 2 || p.AnonCreds.NonRevoked != identity.NonRevokedRequired ||
		*p.AnonCreds.Predicates[0].PValue != 20081205 || p.AnonCreds.Predicates[1].AgeAtLeast != 18 {
		t.Fatalf("policy %+v", p)
	}
	if got := p.DisplayClaimsFor(identity.FormatAnonCreds); strings.Join(got, ",") != "given_name,family_name" {
		t.Fatalf("display claims %v", got)
	}

	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	raw, err := p.AnonCredsProofRequest("session-challenge", "https://broker.example", now)
	if err != nil {
		t.Fatal(err)
	}
	req, err := anoncreds.ParsePresentationRequest(raw)
	if err != nil {
		t.Fatalf("the request does not parse: %v\n%s", err, raw)
	}
	if req.Nonce != identity.AnonCredsNonce("https://broker.example", "session-challenge") || len(req.Nonce) < 25 {
		t.Fatalf("nonce %q", req.Nonce)
	}
	if identity.AnonCredsNonce("https://broker.example", "another-challenge") == req.Nonce ||
		identity.AnonCredsNonce("https://other.example", "session-challenge") == req.Nonce {
		t.Fatal("the nonce does not depend on the challenge and the domain")
	}
	if req.Name != p.Purpose || req.NonRevoked == nil || req.NonRevoked.To == nil || *req.NonRevoked.To != uint64(now.Unix()) {
		t.Fatalf("request %s", raw)
	}
	if a := req.RequestedAttributes["attr_0"]; a.Name != "given_name" ||
		!strings.Contains(string(a.Restrictions), `"issuer_did":"WgWxqztrNooG92RXvxSTWv"`) || // a legacy issuer as wallets record it
		!strings.Contains(string(a.Restrictions), `"issuer_did":"did:indy:sovrin:WpoQirzsNJK2MUZh3NtbF2","schema_name":"hearro-id","schema_version":"1.0"`) {
		t.Fatalf("attr_0 %+v", a)
	}
	if g := req.RequestedAttributes["attr_1"]; strings.Join(g.Names, ",") != "family_name,member_id" ||
		string(g.Restrictions) != `[{"cred_def_id":"WgWxqztrNooG92RXvxSTWv:3:CL:20:demo"}]` {
		t.Fatalf("attr_1 %+v %s", g, g.Restrictions)
	}
	if pr := req.RequestedPredicates["pred_0"]; pr.Name != "birthdate_dateint" || pr.PType != "<=" || pr.PValue != 20081205 {
		t.Fatalf("pred_0 %+v", pr)
	}
	if pr := req.RequestedPredicates["pred_1"]; pr.PType != "<=" || pr.PValue != 20081206 {
		t.Fatalf("age_at_least 18 on 2026-12-06: %+v", pr)
	}
	var generic map[string]any
	if err := json.Unmarshal(raw, &generic); err != nil || generic["version"] != "1.0" {
		t.Fatalf("request %s", raw)
	}
}

// age_at_least counts a 29 February birthday as reached on 1 March of a common year.
func TestAgeAtLeastOnLeapDay(t *testing.T) {
	ps, err := identity.ParsePolicies([]byte(anonCredsPolicies))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := ps["bc-person"].AnonCredsProofRequest("c", "d", time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := anoncreds.ParsePresentationRequest(raw)
	if v := req.RequestedPredicates["pred_1"].PValue; v != 20100228 {
		t.Fatalf("p_value %d on 2028-02-29, want 20100228", v)
	}
}

// TestAnonCredsPolicyErrors: an invalid AnonCreds section is refused at load, with the line of
// the offending key (marked "# <-") and a message naming the problem.
func TestAnonCredsPolicyErrors(t *testing.T) {
	const head = "policies:\n  - name: a\n    assurance: low\n    anoncreds:\n"
	const trust = "      issuers: [did:sov:WgWxqztrNooG92RXvxSTWv]\n"
	const attrs = "      attributes:\n        - name: given_name\n"
	tests := []struct{ name, yaml, want string }{
		{"no trusted issuers", head + attrs + "      display_claims: [given_name]\n", "no trusted issuers"},
		{"issuer is not a DID", head + "      issuers:\n        - WgWxqztrNooG92RXvxSTWv # <-\n" + attrs, "is not a DID"},
		{"restriction names no issuer", head + "      restrictions:\n        - schema_name: hearro-id # <-\n" + attrs, "neither issuer_did nor cred_def_id"},
		{"restriction issuer is not a DID", head + "      restrictions:\n        - issuer_did: bank # <-\n" + attrs, "is not a DID"},
		{"cred def id malformed", head + "      restrictions:\n        - cred_def_id: \"not:an:id\" # <-\n" + attrs, "is not a credential definition id"},
		{"cred def of another issuer", head + "      restrictions:\n        - issuer_did: did:sov:WpoQirzsNJK2MUZh3NtbF2\n          cred_def_id: \"WgWxqztrNooG92RXvxSTWv:3:CL:20:demo\" # <-\n" + attrs, "is issued by did:sov:WgWxqztrNooG92RXvxSTWv"},
		{"schema id is a cred def id", head + "      restrictions:\n        - issuer_did: did:sov:WgWxqztrNooG92RXvxSTWv\n          schema_id: \"WgWxqztrNooG92RXvxSTWv:3:CL:20:demo\" # <-\n" + attrs, "is not a schema id"},
		{"unknown restriction key", head + "      restrictions:\n        - issuer_did: did:sov:WgWxqztrNooG92RXvxSTWv\n          attr::x::value: y # <-\n" + attrs, "unknown field"},
		{"nothing asked", head + "      issuers: [did:sov:WgWxqztrNooG92RXvxSTWv] # <-\n      non_revoked: required\n", "no attributes or predicates"},
		{"name and names", head + trust + "      attributes:\n        - name: a # <-\n          names: [b, c]\n", "exactly one of name and names"},
		{"attribute asked twice", head + trust + "      attributes:\n        - name: given_name\n        - names: [GIVEN_NAME] # <-\n", "asked for twice"},
		{"link secret asked", head + trust + "      attributes:\n        - name: master_secret # <-\n", "link secret"},
		{"attribute restriction without issuer", head + trust + "      attributes:\n        - name: a\n          restrictions:\n            - schema_id: \"WgWxqztrNooG92RXvxSTWv:2:hearro-id:1.0\" # <-\n", "neither issuer_did nor cred_def_id"},
		{"predicate without attribute", head + trust + "      predicates:\n        - p_type: \">=\" # <-\n          p_value: 18\n", "has no attribute"},
		{"unknown p_type", head + trust + "      predicates:\n        - attribute: age\n          p_type: \"==\" # <-\n          p_value: 18\n", "is not one of >=, >, <=, <"},
		{"no p_value", head + trust + "      predicates:\n        - attribute: age # <-\n          p_type: \">=\"\n", "has no p_value"},
		{"p_value not an integer", head + trust + "      predicates:\n        - attribute: age\n          p_type: \">=\"\n          p_value: eighteen # <-\n", ""},
		{"p_value beyond 32 bits", head + trust + "      predicates:\n        - attribute: age\n          p_type: \">=\"\n          p_value: 5000000000 # <-\n", ""},
		{"age and p_value", head + trust + "      predicates:\n        - attribute: birthdate_dateint\n          age_at_least: 18 # <-\n          p_value: 20081205\n", "give one or the other"},
		{"absurd age", head + trust + "      predicates:\n        - attribute: birthdate_dateint\n          age_at_least: 1000 # <-\n", "not between 1 and 150"},
		{"unknown non_revoked", head + trust + attrs + "      non_revoked: sometimes # <-\n", "required or not_required"},
		{"display claim not revealed", head + trust + attrs + "      predicates:\n        - {attribute: birthdate_dateint, age_at_least: 18}\n      display_claims:\n        - given_name\n        - birthdate_dateint # <-\n", "not a requested attribute"},
		{"unknown key in the section", head + trust + attrs + "      trust_everyone: true # <-\n", "unknown field"},
		{"no credentials nor anoncreds", "policies:\n  - name: a # <-\n    assurance: low\n", "no credentials"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := 0
			for i, l := range strings.Split(tc.yaml, "\n") {
				if strings.Contains(l, "# <-") {
					want = i + 1
				}
			}
			_, err := identity.ParsePolicies([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("an invalid policy file was accepted:\n%s", tc.yaml)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
			if want != 0 {
				if got := errorLine(err.Error()); got != want {
					t.Fatalf("error names line %d, want %d:\n%v\n%s", got, want, err, tc.yaml)
				}
			}
		})
	}
}
