package identity_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity"
)

const examplePolicies = `
policies:
  - name: retail-banking
    purpose: Prove you are a customer of Example Bank.
    assurance: substantial
    formats: [ldp, bbs, jwt, sd-jwt]
    credentials:
      - type: VerifiedCustomer
        sd_jwt_vct: [https://credentials.example-bank.com/VerifiedCustomer]
        issuers: [did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK]
        issuer_domains: [example-bank.com, "*.example-bank.com"]
      - type: BankCustomer
        issuers: [did:web:issuer.example-bank.com]
    required_claims: [givenName, familyName, memberId]
    optional_claims: [email]
    display_claims: [givenName, familyName]
    claim_filters:
      memberId: {type: string, pattern: "^[0-9]{5,12}$"}
    max_credential_age: 365d
    clock_skew: 90s
    status: fail_closed
    issuer_names:
      did:web:issuer.example-bank.com: Example Bank
  - name: quick
    assurance: low
    credentials:
      - type: VerifiedCustomer
        issuers: [did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK]
    status: fail_open
`

func TestParsePolicies(t *testing.T) {
	ps, err := identity.ParsePolicies([]byte(examplePolicies))
	if err != nil {
		t.Fatal(err)
	}
	p := ps["retail-banking"]
	if p == nil || p.CredentialType != "VerifiedCustomer" || len(p.Rules()) != 2 || p.MaxCredentialAge != 365*24*time.Hour ||
		p.ClockSkew != 90*time.Second || p.ClaimFilters["memberId"].Pattern == "" || !p.Rules()[0].Trusts("did:web:branch.example-bank.com") ||
		p.Rules()[0].Trusts("did:web:example-bank.com.evil.com") || !p.Rules()[1].Matches([]string{"BankCustomer"}) ||
		p.IssuerNames["did:web:issuer.example-bank.com"] != "Example Bank" {
		t.Fatalf("policy %+v", p)
	}
	if q := ps["quick"]; q.ClockSkew != identity.DefaultClockSkew || q.Status != identity.StatusFailOpen {
		t.Fatalf("defaults %+v", q)
	}
	def := p.PresentationDefinition("def-1")
	if _, ok := def["submission_requirements"]; !ok {
		t.Fatal("two credential types and no submission requirement")
	}
	// BBS+ is asked for by the proof of the credential the wallet holds, the identifier wallets
	// know; the wallet derives a proof from it (the verifier refuses the underived signature:
	// TestRefusals, "bbs/underived").
	ldpVC := def["format"].(map[string]any)["ldp_vc"].(map[string]any)["proof_type"].([]string)
	if !slices.Contains(ldpVC, identity.ProofBbsBlsSignature2020) || slices.Contains(ldpVC, identity.ProofBbsBlsSignatureProof2020) {
		t.Fatalf("ldp_vc proof types %v", ldpVC)
	}
}

// TestParsePoliciesErrorsNameTheLine: an invalid policy file is refused with the line of the
// offending key, marked "# <-" in each case, not the line its policy starts on.
func TestParsePoliciesErrorsNameTheLine(t *testing.T) {
	const head = "policies:\n  - name: a\n    assurance: low\n"
	const creds = "    credentials:\n      - type: T\n        issuers: [\"did:key:z6Mk\"]\n"
	tests := []struct{ name, yaml string }{
		// Unknown keys
		{"unknown key", head + creds + "    colour: red # <-\n"},
		{"unknown key in a credential rule", head + "    credentials:\n      - type: T\n        issuers: [\"did:key:z6Mk\"]\n        trust: all # <-\n"},
		{"unknown key in a claim filter", head + creds + "    claim_filters:\n      memberId:\n        type: string\n        regex: \"^[0-9]+$\" # <-\n"},
		// Wrong types
		{"formats is a string", head + creds + "    formats: ldp # <-\n"},
		{"required_claims is a mapping", head + creds + "    required_claims: {givenName: yes} # <-\n"},
		{"minLength is not a number", head + creds + "    claim_filters:\n      memberId:\n        minLength: five # <-\n"},
		{"max_credential_age is a list", head + creds + "    max_credential_age: [1d] # <-\n"},
		// Bad values
		{"issuer is not a DID", head + "    credentials:\n      - type: T\n        issuers:\n          - did:key:z6Mk\n          - example.com # <-\n"},
		{"issuer domain is not a host", head + "    credentials:\n      - type: T\n        issuer_domains: [\"https://bank.example.com/\"] # <-\n"},
		{"bad duration", head + "    max_credential_age: forever # <-\n" + creds},
		{"negative clock skew", head + creds + "    clock_skew: -5s # <-\n"},
		{"unknown format in the second policy", head + creds + "  - name: b\n    assurance: low\n    formats: [ldp, mdoc] # <-\n" + creds},
		{"bad pattern", head + creds + "    claim_filters:\n      memberId:\n        type: string\n        pattern: \"(\" # <-\n"},
		{"unknown filter type", head + creds + "    claim_filters:\n      memberId: {type: text} # <-\n"},
		{"unknown status mode", head + creds + "    required_claims: [givenName]\n    status: sometimes # <-\n"},
		{"issuer name for something not a DID", head + creds + "    issuer_names:\n      bank.example: Example Bank # <-\n"},
		{"empty issuer name", head + creds + "    issuer_names:\n      did:key:z6Mk: Bank\n      did:web:bank.example: \"\" # <-\n"},
		{"issuer name with a control character", head + creds + "    issuer_names:\n      did:web:bank.example: \"Bank\\u0007\" # <-\n"},
		{"subject id shown to the agent", head + creds + "    display_claims:\n      - givenName\n      - id # <-\n"},
		{"credential type listed twice", head + creds + "      - type: T # <-\n        issuers: [\"did:key:z6Mk\"]\n"},
		{"duplicate policy name", head + creds + "  - name: a # <-\n    assurance: low\n" + creds},
		{"credential rule without issuers", head + "    credentials:\n      - type: T # <-\n"},
		{"empty assurance", head + creds + "  - name: b\n    assurance: \"\" # <-\n" + creds},
		// A missing key has no line of its own: the policy's.
		{"no assurance", head + creds + "  - name: b # <-\n" + creds},
		{"not YAML", "policies:\n  - name: a\n    formats: [ldp # <-\n"},
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
				t.Fatal("an invalid policy file was accepted")
			}
			if got := errorLine(err.Error()); got != want {
				t.Fatalf("error names line %d, want %d (the offending key):\n%v\n%s", got, want, err, tc.yaml)
			}
		})
	}
}

// errorLine reads the line an error names: "line N: …" (a policy that does not validate) or
// "[N:C] …" (YAML that does not decode).
func errorLine(msg string) int {
	var n int
	if _, err := fmt.Sscanf(msg, "line %d:", &n); err == nil {
		return n
	}
	if _, err := fmt.Sscanf(msg, "[%d:", &n); err == nil {
		return n
	}
	return 0
}
