package wallets

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/identity"
)

// Verifier is identity's verifier as the broker's, with the policies it verifies against.
type Verifier struct {
	verifier *identity.Verifier
	policies map[string]*identity.Policy
}

var _ broker.Verifier = (*Verifier)(nil)

// NewVerifier returns v verifying against policies (by name).
func NewVerifier(v *identity.Verifier, policies map[string]*identity.Policy) *Verifier {
	return &Verifier{verifier: v, policies: policies}
}

// Verify verifies a presentation against the named policy. A refusal is a *broker.Refusal
// whose Explain is the reason's fixed sentence (identity.Reason.Explain).
func (v *Verifier) Verify(ctx context.Context, presentation []byte, req broker.VerifyRequest) (*broker.Verification, error) {
	policy, ok := v.policies[req.Policy]
	if !ok {
		return nil, fmt.Errorf("verify: %w: %q", broker.ErrUnknownPolicy, req.Policy)
	}
	res, err := v.verifier.Verify(ctx, presentation, identity.Request{
		Policy: policy, Challenge: req.Challenge, Domain: req.Domain, ConnectionDID: req.ConnectionDID,
	})
	if err != nil {
		var re *identity.RejectError
		if errors.As(err, &re) {
			return nil, &broker.Refusal{Reason: string(re.Reason), Explain: re.Reason.Explain(), Detail: err.Error(),
				Format: string(identity.GuessFormat(presentation))}
		}
		return nil, err
	}
	return &broker.Verification{HolderDID: res.HolderDID, IssuerDID: res.IssuerDID, CredentialType: res.CredentialType,
		Claims: res.Claims, ExpiresAt: res.ExpiresAt, Format: string(res.Format)}, nil
}

// Policies returns the broker's view of policies (by name), after checking each.
func Policies(policies map[string]*identity.Policy) (map[string]broker.Policy, error) {
	out := make(map[string]broker.Policy, len(policies))
	for name, p := range policies {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		out[name] = broker.Policy{Name: p.Name, Purpose: p.Purpose, Assurance: p.Assurance,
			DisplayClaims: p.DisplayClaims, IssuerNames: p.IssuerNames, Definition: p.PresentationDefinition,
			DeleteConversationsOnErasure: p.DeleteConversationsOnErasure}
	}
	return out, nil
}
