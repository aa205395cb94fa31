package identity

import (
	"fmt"
	"slices"
	"time"
)

// Policy says what a presentation must prove for a session to be verified, and what of it the
// contact-centre agent may see.
type Policy struct {
	// Name identifies the policy in the API (POST /v1/sessions {"policy": name}).
	Name string
	// CredentialType is the credential type that must be presented, e.g. "VerifiedCustomer".
	CredentialType string
	// TrustedIssuers are the DIDs trusted to issue CredentialType.
	TrustedIssuers []string
	// RequiredClaims must be present (and non-empty) in the credential subject.
	RequiredClaims []string
	// DisplayClaims are the claims shown to the agent (sent to Twilio). Everything else stays
	// with this service.
	DisplayClaims []string
	// Assurance is the assurance level reported with a verification, e.g. "development".
	Assurance string
	// ClockSkew bounds how far clocks may disagree when checking validity periods.
	ClockSkew time.Duration
	// Purpose is shown to the customer by their wallet.
	Purpose string
}

// Validate reports the first problem with p.
func (p *Policy) Validate() error {
	switch {
	case p.Name == "":
		return fmt.Errorf("policy: name is empty")
	case p.CredentialType == "":
		return fmt.Errorf("policy %q: credential type is empty", p.Name)
	case len(p.TrustedIssuers) == 0:
		return fmt.Errorf("policy %q: no trusted issuers", p.Name)
	case p.ClockSkew < 0:
		return fmt.Errorf("policy %q: negative clock skew", p.Name)
	}
	for _, c := range p.DisplayClaims {
		if c == "id" {
			return fmt.Errorf("policy %q: the subject id cannot be a display claim", p.Name)
		}
	}
	return nil
}

// Trusts reports whether issuer may issue the policy's credential type.
func (p *Policy) Trusts(issuer string) bool { return slices.Contains(p.TrustedIssuers, issuer) }

// Display returns the subset of claims the policy allows the agent to see.
func (p *Policy) Display(claims map[string]any) map[string]any {
	out := make(map[string]any, len(p.DisplayClaims))
	for _, name := range p.DisplayClaims {
		if v, ok := claims[name]; ok {
			out[name] = v
		}
	}
	return out
}

// DefaultClockSkew is the clock skew a policy gets when it does not set one.
const DefaultClockSkew = 2 * time.Minute

// DevelopmentPolicyName is the name of the built-in development policy.
const DevelopmentPolicyName = "default"

// DevelopmentPolicy is the built-in policy of development mode: a VerifiedCustomer credential
// from the development issuer (whose key is published, so it proves nothing outside
// development), with given name, family name and member id; the agent sees the names.
func DevelopmentPolicy(devIssuerDID string) *Policy {
	return &Policy{
		Name:           DevelopmentPolicyName,
		CredentialType: "VerifiedCustomer",
		TrustedIssuers: []string{devIssuerDID},
		RequiredClaims: []string{"givenName", "familyName", "memberId"},
		DisplayClaims:  []string{"givenName", "familyName"},
		Assurance:      "development",
		ClockSkew:      DefaultClockSkew,
		Purpose:        "Prove you are a verified customer so an agent can help you without security questions.",
	}
}

// PresentationDefinition is the DIF Presentation Exchange v1 definition asking for the
// policy's credential (https://identity.foundation/presentation-exchange/spec/v1.0.0/).
func (p *Policy) PresentationDefinition(id string) map[string]any {
	fields := []any{
		map[string]any{
			"path": []string{"$.type"},
			"filter": map[string]any{
				"type":     "array",
				"contains": map[string]any{"const": p.CredentialType},
			},
		},
	}
	for _, c := range p.RequiredClaims {
		fields = append(fields, map[string]any{
			"path": []string{"$.credentialSubject." + c},
		})
	}
	return map[string]any{
		"id": id,
		"format": map[string]any{
			"ldp_vp": map[string]any{"proof_type": SupportedProofTypes},
			"ldp_vc": map[string]any{"proof_type": SupportedProofTypes},
		},
		"input_descriptors": []any{
			map[string]any{
				"id":      InputDescriptorID,
				"name":    p.CredentialType,
				"purpose": p.Purpose,
				"schema": []any{
					map[string]any{"uri": "https://www.w3.org/2018/credentials#VerifiableCredential"},
				},
				"constraints": map[string]any{"fields": fields},
			},
		},
	}
}

// InputDescriptorID is the id of the single input descriptor of every presentation definition
// this service sends.
const InputDescriptorID = "credential"

// SupportedProofTypes are the Data Integrity proof types the verifier checks.
var SupportedProofTypes = []string{"Ed25519Signature2020", "Ed25519Signature2018"}
