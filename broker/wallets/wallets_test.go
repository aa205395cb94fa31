package wallets_test

import (
	"context"
	"errors"
	"testing"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/wallets"
	"github.com/hearro/trustbroker/identity"
)

// The codes the broker decides itself are the same words identity uses for them, which the
// README and the chat page document once.
func TestBrokerReasonsAreIdentitysWords(t *testing.T) {
	for broker, ident := range map[string]identity.Reason{
		broker.ReasonReplayed:             identity.ReasonReplayed,
		broker.ReasonDeclined:             identity.ReasonDeclined,
		broker.ReasonConfirmationMismatch: identity.ReasonConfirmationMismatch,
	} {
		if broker != string(ident) {
			t.Errorf("broker says %q where identity says %q", broker, ident)
		}
	}
}

// A refusal reaches the broker with its code, the fixed sentence for the wallet, and the
// detail for the logs only; an unknown policy is not a refusal.
func TestVerifierRefusalsKeepTheirReason(t *testing.T) {
	loader, err := identity.NewContextLoader()
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier(identity.VerifierConfig{Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	policy := identity.DevelopmentPolicy("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
	w := wallets.NewVerifier(v, map[string]*identity.Policy{policy.Name: policy})
	_, err = w.Verify(context.Background(), []byte(`{"not":"a presentation"}`), broker.VerifyRequest{
		Policy: policy.Name, Challenge: "n", Domain: "https://verify.example.com"})
	var r *broker.Refusal
	if !errors.As(err, &r) || r.Reason == "" || r.Explain != identity.Reason(r.Reason).Explain() || r.Detail == "" {
		t.Fatalf("refusal %#v (%v)", r, err)
	}
	_, err = w.Verify(context.Background(), []byte(`{}`), broker.VerifyRequest{Policy: "platinum"})
	if !errors.Is(err, broker.ErrUnknownPolicy) || errors.As(err, &r) {
		t.Fatalf("unknown policy: %v", err)
	}
}

// The broker sees a policy's purpose, assurance, display claims and definition; a policy that
// does not hold together is refused before the broker sees it.
func TestPoliciesInTheBrokersWords(t *testing.T) {
	policy := identity.DevelopmentPolicy("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK")
	got, err := wallets.Policies(map[string]*identity.Policy{policy.Name: policy})
	if err != nil {
		t.Fatal(err)
	}
	p := got[policy.Name]
	if p.Name != policy.Name || p.Purpose != policy.Purpose || p.Assurance != policy.Assurance ||
		len(p.DisplayClaims) != len(policy.DisplayClaims) || p.Definition("d-1")["id"] != "d-1" {
		t.Fatalf("policy %+v", p)
	}
	shown := p.Display(map[string]any{"givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"})
	if len(shown) != 2 || shown["memberId"] != nil {
		t.Fatalf("display %v", shown)
	}
	bad := *policy
	bad.ClockSkew = -1
	if _, err := wallets.Policies(map[string]*identity.Policy{bad.Name: &bad}); err == nil {
		t.Fatal("a policy with a negative clock skew was accepted")
	}
}
