package identity_test

import (
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
		p.Rules()[0].Trusts("did:web:example-bank.com.evil.com") || !p.Rules()[1].Matches([]string{"BankCustomer"}) {
		t.Fatalf("policy %+v", p)
	}
	if q := ps["quick"]; q.ClockSkew != identity.DefaultClockSkew || q.Status != identity.StatusFailOpen {
		t.Fatalf("defaults %+v", q)
	}
	def := p.PresentationDefinition("def-1")
	if _, ok := def["submission_requirements"]; !ok {
		t.Fatal("two credential types and no submission requirement")
	}
}

func TestParsePoliciesErrorsNameTheLine(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "policies:\n  - name: a\n    assurance: low\n    colour: red\n", "[4:"},
		{"issuer is not a DID", "policies:\n  - name: a\n    assurance: low\n    credentials:\n      - type: T\n        issuers: [example.com]\n", "line 2"},
		{"bad duration", "policies:\n  - name: a\n    assurance: low\n    max_credential_age: forever\n    credentials:\n      - {type: T, issuers: [\"did:key:z6Mk\"]}\n", "line 2"},
		{"unknown format", "policies:\n  - name: ok\n    assurance: low\n    credentials: [{type: T, issuers: [\"did:key:z\"]}]\n  - name: b\n    assurance: low\n    formats: [mdoc]\n    credentials: [{type: T, issuers: [\"did:key:z\"]}]\n", "line 5"},
		{"bad pattern", "policies:\n  - name: a\n    assurance: low\n    credentials: [{type: T, issuers: [\"did:key:z\"]}]\n    claim_filters: {x: {pattern: \"(\"}}\n", "line 2"},
		{"duplicate name", "policies:\n  - name: a\n    assurance: low\n    credentials: [{type: T, issuers: [\"did:key:z\"]}]\n  - name: a\n    assurance: low\n    credentials: [{type: T, issuers: [\"did:key:z\"]}]\n", "line 5"},
		{"not YAML", "policies: [", "["},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := identity.ParsePolicies([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
