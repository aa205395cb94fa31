package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mr-tron/base58"

	"github.com/hearro/trustbroker/identity"
)

const (
	testChallenge = "session-nonce-1"
	testDomain    = "https://verify.example.com"
)

type keyPair struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newKey(t testing.TB) keyPair {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{pub, priv}
}

func (k keyPair) did() string { return identity.DIDKey(k.pub) }
func (k keyPair) vm() string  { return identity.DIDKeyMethod(k.pub) }

// fixture builds credentials and presentations, and lets each case bend one thing.
type fixture struct {
	t      testing.TB
	loader *identity.ContextLoader
	issuer keyPair
	holder keyPair
	now    time.Time
}

func newFixture(t testing.TB) *fixture {
	l, err := identity.NewContextLoader()
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, loader: l, issuer: newKey(t), holder: newKey(t), now: time.Now()}
}

type vcOpts struct {
	signer     keyPair
	vm         string // defaults to signer's
	proofType  string
	beforeSign func(vc map[string]any)
	afterSign  func(vc map[string]any)
}

func (f *fixture) vc(o vcOpts) json.RawMessage {
	f.t.Helper()
	if o.signer.priv == nil {
		o.signer = f.issuer
	}
	if o.vm == "" {
		o.vm = o.signer.vm()
	}
	ctx := []any{"https://www.w3.org/2018/credentials/v1"}
	if o.proofType != "Ed25519Signature2018" { // the credentials context defines the 2018 suite
		ctx = append(ctx, "https://w3id.org/security/suites/ed25519-2020/v1")
	}
	vc := map[string]any{
		"@context":       append(ctx, identity.VerifiedCustomerContext),
		"id":             "urn:uuid:3f6d5a3e-0000-4000-8000-000000000001",
		"type":           []any{"VerifiableCredential", "VerifiedCustomer"},
		"issuer":         f.issuer.did(),
		"issuanceDate":   f.now.Add(-time.Hour).UTC().Format(time.RFC3339),
		"expirationDate": f.now.Add(24 * time.Hour).UTC().Format(time.RFC3339),
		"credentialSubject": map[string]any{
			"id": f.holder.did(), "givenName": "Ada", "familyName": "Lovelace", "memberId": "12345",
		},
	}
	if o.beforeSign != nil {
		o.beforeSign(vc)
	}
	b, _ := json.Marshal(vc)
	signed, err := identity.SignLD(b, identity.Ed25519Signer(o.signer.priv), identity.LDProof{
		Type: o.proofType, VerificationMethod: o.vm, Purpose: "assertionMethod",
	}, f.loader)
	if err != nil {
		f.t.Fatalf("sign credential: %v", err)
	}
	if o.afterSign != nil {
		var m map[string]any
		json.Unmarshal(signed, &m)
		o.afterSign(m)
		signed, _ = json.Marshal(m)
	}
	return signed
}

type vpOpts struct {
	signer     keyPair
	vm         string
	holder     string
	challenge  string
	domain     string
	purpose    string
	vcs        []json.RawMessage
	beforeSign func(vp map[string]any)
	afterSign  func(vp map[string]any)
}

func (f *fixture) vp(o vpOpts) []byte {
	f.t.Helper()
	if o.signer.priv == nil {
		o.signer = f.holder
	}
	if o.vm == "" {
		o.vm = o.signer.vm()
	}
	if o.holder == "" {
		o.holder = f.holder.did()
	}
	if o.challenge == "" {
		o.challenge = testChallenge
	}
	if o.domain == "" {
		o.domain = testDomain
	}
	if o.purpose == "" {
		o.purpose = "authentication"
	}
	if o.vcs == nil {
		o.vcs = []json.RawMessage{f.vc(vcOpts{})}
	}
	vp := map[string]any{
		"@context":             []any{"https://www.w3.org/2018/credentials/v1", "https://w3id.org/security/suites/ed25519-2020/v1"},
		"type":                 []any{"VerifiablePresentation"},
		"holder":               o.holder,
		"verifiableCredential": o.vcs,
	}
	if o.beforeSign != nil {
		o.beforeSign(vp)
	}
	b, _ := json.Marshal(vp)
	signed, err := identity.SignLD(b, identity.Ed25519Signer(o.signer.priv), identity.LDProof{
		VerificationMethod: o.vm, Purpose: o.purpose, Challenge: o.challenge, Domain: o.domain,
	}, f.loader)
	if err != nil {
		f.t.Fatalf("sign presentation: %v", err)
	}
	if o.afterSign != nil {
		var m map[string]any
		json.Unmarshal(signed, &m)
		o.afterSign(m)
		signed, _ = json.Marshal(m)
	}
	return signed
}

func (f *fixture) policy() *identity.Policy {
	p := identity.DevelopmentPolicy(f.issuer.did())
	return p
}

func (f *fixture) verify(vp []byte) (*identity.Result, error) {
	v, err := identity.NewVerifier(identity.VerifierConfig{Loader: f.loader, Now: func() time.Time { return f.now }})
	if err != nil {
		f.t.Fatal(err)
	}
	return v.Verify(context.Background(), vp, identity.Request{Policy: f.policy(), Challenge: testChallenge, Domain: testDomain})
}

// assertRefused checks a verification's outcome: accepted when want is "", or else refused
// for want with nothing of the holder's identity handed back — no result to store, and no
// claim value in the error, which is logged and sent to the wallet.
func assertRefused(t testing.TB, res *identity.Result, err error, want identity.Reason) {
	t.Helper()
	if got := identity.ReasonOf(err); got != want {
		t.Fatalf("reason %q (%v), want %q", got, err, want)
	}
	if want == "" {
		if res == nil {
			t.Fatal("accepted without a result")
		}
		return
	}
	var re *identity.RejectError
	if !errors.As(err, &re) {
		t.Fatalf("a refusal is not a *RejectError: %T", err)
	}
	if res != nil {
		t.Fatalf("a refused presentation returned an identity: %+v", res)
	}
	if strings.Contains(err.Error(), demoClaims["familyName"]) {
		t.Fatalf("the refusal quotes a claim value: %v", err)
	}
}

func subject(vc map[string]any) map[string]any { return vc["credentialSubject"].(map[string]any) }

func proofOf(doc map[string]any) map[string]any { return doc["proof"].(map[string]any) }

// dm2 makes the fixture's credential a VC Data Model 2.0 one valid from from until until
// ("": unbounded), in place of 1.1's issuanceDate and expirationDate.
func dm2(from, until string) func(vc map[string]any) {
	return func(vc map[string]any) {
		vc["@context"] = []any{identity.CredentialsV2Context, identity.Ed25519Signature2020Context, identity.VerifiedCustomerContext}
		delete(vc, "issuanceDate")
		delete(vc, "expirationDate")
		if from != "" {
			vc["validFrom"] = from
		}
		if until != "" {
			vc["validUntil"] = until
		}
	}
}

// dm2VP is a VC Data Model 2.0 presentation of vcs: a 2.0 credential cannot sit in a 1.1
// presentation, whose context would redefine the 2.0 context's protected terms.
func (f *fixture) dm2VP(vcs ...json.RawMessage) []byte {
	return f.vp(vpOpts{vcs: vcs, beforeSign: func(vp map[string]any) {
		vp["@context"] = []any{identity.CredentialsV2Context, identity.Ed25519Signature2020Context}
	}})
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	other := newKey(t)
	at := func(d time.Duration) string { return f.now.Add(d).UTC().Format(time.RFC3339) }
	tests := []struct {
		name string
		vp   func() []byte
		want identity.Reason // "" = verified
	}{
		{"ok/Ed25519Signature2020", func() []byte { return f.vp(vpOpts{}) }, ""},
		{"ok/Ed25519Signature2018 credential", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{proofType: "Ed25519Signature2018"})}})
		}, ""},
		{"ok/subject is the connection DID, not the holder", nil, ""}, // run separately below
		{"ok/VC Data Model 2.0 credential, validFrom and validUntil", func() []byte {
			return f.dm2VP(f.vc(vcOpts{beforeSign: dm2(at(-time.Hour), at(time.Hour))}))
		}, ""},
		{"ok/VC Data Model 2.0 credential without a validity period", func() []byte {
			return f.dm2VP(f.vc(vcOpts{beforeSign: dm2("", "")}))
		}, ""},
		{"ok/VC Data Model 2.0 credential expiring within the clock skew", func() []byte {
			return f.dm2VP(f.vc(vcOpts{beforeSign: dm2(at(-time.Hour), at(-time.Minute))}))
		}, ""},
		{"VC Data Model 2.0 credential expired (validUntil past)", func() []byte {
			return f.dm2VP(f.vc(vcOpts{beforeSign: dm2(at(-48*time.Hour), at(-time.Hour))}))
		}, identity.ReasonExpiredCredential},
		{"VC Data Model 2.0 credential not yet valid (validFrom future)", func() []byte {
			return f.dm2VP(f.vc(vcOpts{beforeSign: dm2(at(time.Hour), at(48*time.Hour))}))
		}, identity.ReasonNotYetValid},
		{"VC Data Model 2.0 credential whose validUntil was extended after signing", func() []byte {
			return f.dm2VP(f.vc(vcOpts{beforeSign: dm2(at(-48*time.Hour), at(-time.Hour)),
				afterSign: func(vc map[string]any) { vc["validUntil"] = at(time.Hour) }}))
		}, identity.ReasonBadSignature},
		{"VC Data Model 2.0 credential with 1.1's expirationDate", func() []byte {
			return f.dm2VP(f.vc(vcOpts{beforeSign: func(vc map[string]any) {
				dm2(at(-time.Hour), "")(vc)
				vc["expirationDate"] = at(time.Hour)
			}}))
		}, identity.ReasonMalformed},
		{"VC Data Model 2.0 credential in a 1.1 presentation", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: dm2(at(-time.Hour), "")})},
				beforeSign: func(vp map[string]any) {
					vp["@context"] = []any{identity.CredentialsV2Context, identity.Ed25519Signature2020Context}
				},
				afterSign: func(vp map[string]any) {
					vp["@context"] = []any{identity.CredentialsV1Context, identity.Ed25519Signature2020Context}
				}})
		}, identity.ReasonUnknownContext}, // the 1.1 context redefines terms 2.0 protects

		{"presentation without proof", func() []byte {
			return f.vp(vpOpts{afterSign: func(vp map[string]any) { delete(vp, "proof") }})
		}, identity.ReasonMissingProof},
		{"credential without proof", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{afterSign: func(vc map[string]any) { delete(vc, "proof") }})}})
		}, identity.ReasonMissingProof},
		{"credential signed by a key that is not the issuer's", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{signer: other})}})
		}, identity.ReasonIssuerMismatch},
		{"credential proof names the issuer's DID with another key's fragment", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{signer: other, vm: f.issuer.did() + "#" + strings.TrimPrefix(other.did(), "did:key:")})}})
		}, identity.ReasonUnresolvableDID},
		{"credential key id matched by substring", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{vm: f.issuer.vm() + "x"})}})
		}, identity.ReasonUnresolvableDID},
		{"presentation signed by a key that is not the holder's", func() []byte { return f.vp(vpOpts{signer: other}) }, identity.ReasonHolderMismatch},
		{"presentation without holder", func() []byte {
			return f.vp(vpOpts{beforeSign: func(vp map[string]any) { delete(vp, "holder") }})
		}, identity.ReasonHolderMismatch},
		{"credential subject is someone else", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { subject(vc)["id"] = other.did() }})}})
		}, identity.ReasonHolderMismatch},
		{"wrong challenge", func() []byte { return f.vp(vpOpts{challenge: "another-session"}) }, identity.ReasonChallengeMismatch},
		{"wrong domain", func() []byte { return f.vp(vpOpts{domain: "https://evil.example.com"}) }, identity.ReasonDomainMismatch},
		{"presentation proof purpose is not authentication", func() []byte { return f.vp(vpOpts{purpose: "assertionMethod"}) }, identity.ReasonMalformed},
		{"tampered claim", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{afterSign: func(vc map[string]any) { subject(vc)["givenName"] = "Eve" }})}})
		}, identity.ReasonBadSignature},
		{"tampered claim after the presentation was signed", func() []byte {
			return f.vp(vpOpts{afterSign: func(vp map[string]any) {
				subject(vp["verifiableCredential"].([]any)[0].(map[string]any))["memberId"] = "99999"
			}})
		}, identity.ReasonBadSignature},
		{"swapped credential proof", func() []byte {
			theirs := f.vc(vcOpts{beforeSign: func(vc map[string]any) { subject(vc)["memberId"] = "777" }})
			var m map[string]any
			json.Unmarshal(theirs, &m)
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{afterSign: func(vc map[string]any) { vc["proof"] = m["proof"] }})}})
		}, identity.ReasonBadSignature},
		{"tampered presentation proof value", func() []byte {
			return f.vp(vpOpts{afterSign: func(vp map[string]any) {
				p := proofOf(vp)
				sig, err := base58.Decode(strings.TrimPrefix(p["proofValue"].(string), "z"))
				if err != nil {
					t.Fatal(err)
				}
				sig[10] ^= 1
				p["proofValue"] = "z" + base58.Encode(sig)
			}})
		}, identity.ReasonBadSignature},
		{"untrusted issuer", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{signer: other, beforeSign: func(vc map[string]any) { vc["issuer"] = other.did() }})}})
		}, identity.ReasonUntrustedIssuer},
		{"expired credential", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) {
				vc["expirationDate"] = f.now.Add(-time.Hour).UTC().Format(time.RFC3339)
			}})}})
		}, identity.ReasonExpiredCredential},
		{"credential not yet valid", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) {
				vc["issuanceDate"] = f.now.Add(time.Hour).UTC().Format(time.RFC3339)
			}})}})
		}, identity.ReasonNotYetValid},
		{"issued within the clock skew is accepted", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) {
				vc["issuanceDate"] = f.now.Add(time.Minute).UTC().Format(time.RFC3339)
			}})}})
		}, ""},
		{"missing required claim", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { delete(subject(vc), "memberId") }})}})
		}, identity.ReasonMissingClaim},
		{"empty required claim", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { subject(vc)["memberId"] = " " }})}})
		}, identity.ReasonMissingClaim},
		{"credential of another type", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { vc["type"] = []any{"VerifiableCredential"} }})}})
		}, identity.ReasonMissingCredential},
		{"no credential", func() []byte { return f.vp(vpOpts{vcs: []json.RawMessage{}}) }, identity.ReasonMissingCredential},
		{"undefined term signed into the credential", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { subject(vc)["accountLevel"] = "gold" }})}})
		}, identity.ReasonMalformed},
		{"undefined term added after signing", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{afterSign: func(vc map[string]any) { subject(vc)["accountLevel"] = "gold" }})}})
		}, identity.ReasonMalformed},
		{"unknown context", func() []byte {
			return f.vp(vpOpts{afterSign: func(vp map[string]any) {
				vc := vp["verifiableCredential"].([]any)[0].(map[string]any)
				vc["@context"] = append(vc["@context"].([]any), "https://evil.example.com/ctx")
			}})
		}, identity.ReasonUnknownContext},
		{"unsupported proof type", func() []byte {
			return f.vp(vpOpts{afterSign: func(vp map[string]any) { proofOf(vp)["type"] = "RsaSignature2018" }})
		}, identity.ReasonUnsupportedFormat},
		{"JWT presentation", func() []byte { return []byte(`"eyJhbGciOiJFZERTQSJ9.e30.c2ln"`) }, identity.ReasonUnsupportedFormat},
		{"JWT credential in a presentation", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{json.RawMessage(`"eyJhbGciOiJFZERTQSJ9.e30.c2ln"`)}})
		}, identity.ReasonUnsupportedFormat},
		{"holder DID of an unsupported method", func() []byte {
			return f.vp(vpOpts{holder: "did:web:example.com", vm: "did:web:example.com#key-1",
				vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { subject(vc)["id"] = "did:web:example.com" }})}})
		}, identity.ReasonUnsupportedDIDMethod},
		{"unresolvable did:key", func() []byte {
			return f.vp(vpOpts{holder: "did:key:z6MkNotAKey", vm: "did:key:z6MkNotAKey#z6MkNotAKey",
				vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { subject(vc)["id"] = "did:key:z6MkNotAKey" }})}})
		}, identity.ReasonUnresolvableDID},
		{"not JSON", func() []byte { return []byte(`{"@context": [`) }, identity.ReasonMalformed},
		{"JSON array", func() []byte { return []byte(`[1,2,3]`) }, identity.ReasonMalformed},
		{"not a presentation", func() []byte { return []byte(`{"type":["VerifiableCredential"]}`) }, identity.ReasonMalformed},
		{"too large", func() []byte {
			return []byte(`{"type":"VerifiablePresentation","padding":"` + strings.Repeat("a", identity.DefaultMaxPresentationSize) + `"}`)
		}, identity.ReasonMalformed},
		{"deeply nested", func() []byte {
			return []byte(strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000))
		}, identity.ReasonMalformed},
		{"proof is a string", func() []byte {
			return f.vp(vpOpts{afterSign: func(vp map[string]any) { vp["proof"] = "yes" }})
		}, identity.ReasonMalformed},
		{"issuance date is not a date", func() []byte {
			return f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{afterSign: func(vc map[string]any) { vc["issuanceDate"] = "yesterday" }})}})
		}, identity.ReasonMalformed},
	}
	for _, tc := range tests {
		if tc.vp == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			res, err := f.verify(tc.vp())
			assertRefused(t, res, err, tc.want)
			if tc.want == "" && (res.HolderDID != f.holder.did() || res.IssuerDID != f.issuer.did() || res.Claims["memberId"] != "12345") {
				t.Fatalf("result %+v", res)
			}
		})
	}

	t.Run("ok/VC Data Model 2.0 validity period in the result", func(t *testing.T) {
		from, until := f.now.Add(-time.Hour).UTC().Truncate(time.Second), f.now.Add(time.Hour).UTC().Truncate(time.Second)
		res, err := f.verify(f.dm2VP(f.vc(vcOpts{beforeSign: dm2(from.Format(time.RFC3339), until.Format(time.RFC3339))})))
		if err != nil {
			t.Fatal(err)
		}
		if !res.IssuedAt.Equal(from) || !res.ExpiresAt.Equal(until) || res.ProofType != identity.ProofEd25519Signature2020 {
			t.Fatalf("issued %v, expires %v, proof %s", res.IssuedAt, res.ExpiresAt, res.ProofType)
		}
	})

	t.Run("ok/subject is the connection DID, not the holder", func(t *testing.T) {
		conn := "did:peer:1zQmConnection"
		vp := f.vp(vpOpts{vcs: []json.RawMessage{f.vc(vcOpts{beforeSign: func(vc map[string]any) { subject(vc)["id"] = conn }})}})
		v, _ := identity.NewVerifier(identity.VerifierConfig{Loader: f.loader, Now: func() time.Time { return f.now }})
		if _, err := v.Verify(context.Background(), vp, identity.Request{Policy: f.policy(), Challenge: testChallenge, Domain: testDomain, ConnectionDID: conn}); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), vp, identity.Request{Policy: f.policy(), Challenge: testChallenge, Domain: testDomain}); identity.ReasonOf(err) != identity.ReasonHolderMismatch {
			t.Fatalf("without the connection DID: %v", err)
		}
	})
}

func BenchmarkVerifyLDPresentation(b *testing.B) {
	f := newFixture(b)
	vp := f.vp(vpOpts{})
	v, _ := identity.NewVerifier(identity.VerifierConfig{Loader: f.loader, Now: func() time.Time { return f.now }, Replay: forgetful{}})
	req := identity.Request{Policy: f.policy(), Challenge: testChallenge, Domain: testDomain}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), vp, req); err != nil {
			b.Fatal(err)
		}
	}
}

// forgetful is a ReplayGuard that never remembers: benchmarks verify one presentation again
// and again.
type forgetful struct{}

func (forgetful) Use(context.Context, string, time.Time) (bool, error) { return true, nil }
