package identity_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"maps"
	"math/big"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/anoncreds"
	"github.com/hearro/trustbroker/identity/anoncreds/demo"
	"github.com/hearro/trustbroker/identity/anoncreds/registry"
)

// Two demo issuers with legacy Indy identifiers: A is the one the policies trust.
const (
	nymA      = "WgWxqztrNooG92RXvxSTWv"
	nymB      = "WpoQirzsNJK2MUZh3NtbF2"
	schemaA   = nymA + ":2:hearro-id:1.0"
	schemaB   = nymB + ":2:hearro-id:1.0"
	credDefA  = nymA + ":3:CL:20:demo"
	credDefA2 = nymA + ":3:CL:20:other"     // A's, but not in the ac-creddef policy
	credDefAR = nymA + ":3:CL:20:revocable" // A's, with a revocation key
	credDefB  = nymB + ":3:CL:21:demo"
	credDefA3 = nymA + ":3:CL:22:foreign" // A's, on a schema B published

	acDomain     = "https://broker.example"
	acChallenge  = "session-challenge-1"
	acConnection = "did:peer:2.Ez6LSholder"
)

var acAttrs = []string{"given_name", "family_name", "member_id", "birthdate_dateint"}

const acPolicies = `
policies:
  - name: ac
    purpose: Prove you are a customer.
    assurance: substantial
    anoncreds:
      issuers: [did:sov:` + nymA + `]
      attributes:
        - name: given_name
        - names: [family_name, member_id]
      predicates:
        - {attribute: birthdate_dateint, p_type: "<=", p_value: 20081205}
      display_claims: [given_name]
    issuer_names:
      did:sov:` + nymA + `: HearRo demo issuer
  - name: ac-creddef
    assurance: substantial
    anoncreds:
      restrictions: [{cred_def_id: "` + credDefA + `"}]
      attributes: [{name: given_name}]
  - name: ac-nonrevoked
    assurance: substantial
    anoncreds:
      issuers: [did:sov:` + nymA + `]
      attributes: [{name: given_name}]
      non_revoked: required
  - name: ac-schema
    assurance: substantial
    anoncreds:
      restrictions: [{issuer_did: did:sov:` + nymA + `, schema_name: hearro-id}]
      attributes: [{name: given_name}]
`

// acFixture is the demo world: keys, a pinned registry of their definitions, and one
// holder's credentials.
type acFixture struct {
	pinned   *registry.Pinned
	policies map[string]*identity.Policy
	ls       *demo.LinkSecret
	// credentials by name: "a" (born 1990), "young" (born 2010), "b" (issuer B), "a2"
	// (cred def A2), "revocable".
	creds map[string]*demo.Credential
}

var (
	acOnce sync.Once
	acFix  *acFixture
	acErr  error
)

func anonCredsFixture(t testing.TB) *acFixture {
	t.Helper()
	acOnce.Do(func() { acFix, acErr = newACFixture() })
	if acErr != nil {
		t.Fatal(acErr)
	}
	return acFix
}

func newACFixture() (*acFixture, error) {
	b, err := os.ReadFile("anoncreds/testdata/clsignatures-mocks/private_key.json")
	if err != nil {
		return nil, err
	}
	var priv struct{ P, Q string }
	if err := json.Unmarshal(b, &priv); err != nil {
		return nil, err
	}
	p, _ := new(big.Int).SetString(priv.P, 10)
	q, _ := new(big.Int).SetString(priv.Q, 10)
	keyA, err := demo.NewIssuerKey(rand.Reader, p, q, acAttrs)
	if err != nil {
		return nil, err
	}
	keyB, err := demo.NewIssuerKey(rand.Reader, p, q, acAttrs)
	if err != nil {
		return nil, err
	}
	schema := map[string]any{"name": "hearro-id", "version": "1.0", "attrNames": acAttrs}
	cdRev := keyA.CredentialDefinition(credDefAR, schemaA)
	cdRev.Tag = "revocable"
	cdRev.Value.Revocation = json.RawMessage(`{"g":"1 0 1 0 1 0","g_dash":"1 0"}`)
	cdA2 := keyA.CredentialDefinition(credDefA2, schemaA)
	cdA2.Tag = "other"
	cdA3 := keyA.CredentialDefinition(credDefA3, schemaB)
	cdA3.Tag = "foreign"
	file := map[string]any{
		"schemas": map[string]any{schemaA: schema, schemaB: schema},
		"credentialDefinitions": map[string]any{
			credDefA: keyA.CredentialDefinition(credDefA, schemaA), credDefA2: cdA2, credDefAR: cdRev, credDefA3: cdA3,
			credDefB: keyB.CredentialDefinition(credDefB, schemaB),
		},
	}
	raw, err := json.Marshal(file)
	if err != nil {
		return nil, err
	}
	f := &acFixture{creds: map[string]*demo.Credential{}}
	if f.pinned, err = registry.ParsePinned(raw); err != nil {
		return nil, err
	}
	if f.policies, err = identity.ParsePolicies([]byte(acPolicies)); err != nil {
		return nil, err
	}
	if f.ls, err = demo.NewLinkSecret(rand.Reader); err != nil {
		return nil, err
	}
	issue := func(name string, key *demo.IssuerKey, schemaID, credDefID, birth string) error {
		values := map[string]string{"given_name": "Zoë", "family_name": "Okafor", "member_id": "12345", "birthdate_dateint": birth}
		blinded, err := f.ls.Blind(rand.Reader, &key.Public)
		if err != nil {
			return err
		}
		sig, err := key.Sign(rand.Reader, values, anoncreds.NumOf(blinded.U), acConnection)
		if err != nil {
			return err
		}
		f.creds[name], err = f.ls.Accept(&key.Public, sig, blinded, values, schemaID, credDefID)
		return err
	}
	for _, c := range []struct {
		name, schema, credDef, birth string
		key                          *demo.IssuerKey
	}{
		{"a", schemaA, credDefA, "19900101", keyA},
		{"young", schemaA, credDefA, "20100101", keyA},
		{"b", schemaB, credDefB, "19900101", keyB},
		{"a2", schemaA, credDefA2, "19900101", keyA},
		{"revocable", schemaA, credDefAR, "19900101", keyA},
		{"foreign-schema", schemaB, credDefA3, "19900101", keyA},
	} {
		if err := issue(c.name, c.key, c.schema, c.credDef, c.birth); err != nil {
			return nil, err
		}
	}
	return f, nil
}

// countingRegistry records every lookup it passes on.
type countingRegistry struct {
	registry.Registry
	mu      sync.Mutex
	fetched []string
}

func (c *countingRegistry) record(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetched = append(c.fetched, id)
}

func (c *countingRegistry) Schema(ctx context.Context, id string) (*anoncreds.Schema, error) {
	c.record(id)
	return c.Registry.Schema(ctx, id)
}

func (c *countingRegistry) CredentialDefinition(ctx context.Context, id string) (*anoncreds.CredentialDefinition, error) {
	c.record(id)
	return c.Registry.CredentialDefinition(ctx, id)
}

func (c *countingRegistry) RevocationRegistryDefinition(ctx context.Context, id string) (*registry.RevocationRegistryDefinition, error) {
	c.record(id)
	return c.Registry.RevocationRegistryDefinition(ctx, id)
}

func (c *countingRegistry) RevocationStatusList(ctx context.Context, id string, at int64) (*registry.RevocationStatusList, error) {
	c.record(id)
	return c.Registry.RevocationStatusList(ctx, id, at)
}

// proofRequest is the policy's proof request for the session, as sent and as parsed (a
// fresh copy each call, for a test to alter before the holder answers it).
func (f *acFixture) proofRequest(t testing.TB, policy string) ([]byte, *anoncreds.PresentationRequest) {
	t.Helper()
	raw, err := f.policies[policy].AnonCredsProofRequest(acChallenge, acDomain, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, err := anoncreds.ParsePresentationRequest(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, req
}

func (f *acFixture) prove(t testing.TB, req *anoncreds.PresentationRequest, opts demo.Options, creds ...string) []byte {
	t.Helper()
	var cs []*demo.Credential
	for _, c := range creds {
		cs = append(cs, f.creds[c])
	}
	pres, err := demo.Prove(rand.Reader, req, f.ls, cs, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(pres)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *acFixture) verify(t testing.TB, v *identity.Verifier, policy string, sent, pres []byte) (*identity.Result, []string, error) {
	t.Helper()
	reg := &countingRegistry{Registry: f.pinned}
	res, err := v.VerifyAnonCreds(context.Background(), pres, identity.AnonCredsRequest{
		Policy: f.policies[policy], Challenge: acChallenge, Domain: acDomain, ProofRequest: sent,
		ConnectionDID: acConnection, Registry: reg,
	})
	return res, reg.fetched, err
}

func newACVerifier(t testing.TB) *identity.Verifier {
	t.Helper()
	v, err := identity.NewVerifier(identity.VerifierConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// A demo credential of a trusted issuer, presented by the demo prover in answer to the
// policy's request, verifies to the W3C result shape: issuer, schema name, the revealed
// attributes only (not the predicate's), format anoncreds; the agent sees the display claims.
// The registry is asked for exactly the credential's definition and schema; the same
// challenge is not accepted twice.
func TestVerifyAnonCreds(t *testing.T) {
	f := anonCredsFixture(t)
	v := newACVerifier(t)
	sent, req := f.proofRequest(t, "ac")
	pres := f.prove(t, req, demo.Options{}, "a")
	res, fetched, err := f.verify(t, v, "ac", sent, pres)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"given_name": "Zoë", "family_name": "Okafor", "member_id": "12345"}
	if res.IssuerDID != "did:sov:"+nymA || res.CredentialType != "hearro-id" || res.Format != identity.FormatAnonCreds ||
		res.HolderDID != acConnection || res.ProofType != identity.ProofTypeCL || !maps.Equal(res.Claims, want) {
		t.Fatalf("result %+v", res)
	}
	if d := f.policies["ac"].Display(res); !maps.Equal(d, map[string]any{"given_name": "Zoë"}) {
		t.Fatalf("display %v", d)
	}
	if f.policies["ac"].IssuerNames[res.IssuerDID] != "HearRo demo issuer" {
		t.Fatal("the issuer's display name is not found by the result's issuer DID")
	}
	slices.Sort(fetched)
	if !slices.Equal(fetched, []string{schemaA, credDefA}) {
		t.Fatalf("fetched %v", fetched)
	}
	if _, _, err := f.verify(t, v, "ac", sent, pres); identity.ReasonOf(err) != identity.ReasonReplayed {
		t.Fatalf("the same presentation twice: %v", err)
	}
}

// Every refusal has its exact reason, and the cheap ones cost no registry lookup.
func TestVerifyAnonCredsRefusals(t *testing.T) {
	f := anonCredsFixture(t)
	tests := []struct {
		name   string
		policy string
		// answer builds the presentation from a fresh copy of the policy's request.
		answer func(t *testing.T, req *anoncreds.PresentationRequest) []byte
		// sent alters the proof request the verifier is given (nil: the policy's).
		sent        func(t *testing.T) []byte
		want        identity.Reason
		noFetch     bool     // refused before any registry lookup
		notFetched  []string // ids never looked up
		mustFetched []string
	}{
		{name: "wrong nonce", policy: "ac", want: identity.ReasonChallengeMismatch,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				req.Nonce = identity.AnonCredsNonce(acDomain, "another-session")
				return f.prove(t, req, demo.Options{}, "a")
			}},
		{name: "proof request of another session", policy: "ac", want: identity.ReasonChallengeMismatch, noFetch: true,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				return f.prove(t, req, demo.Options{}, "a")
			},
			sent: func(t *testing.T) []byte {
				raw, err := f.policies["ac"].AnonCredsProofRequest("another-session", acDomain, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				return raw
			}},
		{name: "untrusted issuer", policy: "ac", want: identity.ReasonUntrustedIssuer, noFetch: true,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				return f.prove(t, req, demo.Options{}, "b")
			}},
		{name: "credential definition not in the policy", policy: "ac-creddef", want: identity.ReasonUntrustedIssuer, noFetch: true,
			notFetched: []string{credDefA2, schemaA},
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				return f.prove(t, req, demo.Options{}, "a2")
			}},
		{name: "predicate false: born too late", policy: "ac", want: identity.ReasonPredicateFailed,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				// The holder cannot prove <= 20081205 with a 2010 birth date; it proves
				// another bound, which its credential satisfies.
				p := req.RequestedPredicates["pred_0"]
				p.PValue = 20100101
				req.RequestedPredicates["pred_0"] = p
				return f.prove(t, req, demo.Options{}, "young")
			}},
		{name: "predicate not answered", policy: "ac", want: identity.ReasonPredicateFailed, noFetch: true,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				req.RequestedPredicates = map[string]anoncreds.PredicateRequest{}
				return f.prove(t, req, demo.Options{}, "young")
			}},
		{name: "attribute missing", policy: "ac", want: identity.ReasonMissingClaim, noFetch: true,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				delete(req.RequestedAttributes, "attr_1")
				return f.prove(t, req, demo.Options{}, "a")
			}},
		{name: "attribute proven but not revealed", policy: "ac", want: identity.ReasonMissingClaim, noFetch: true,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				return f.prove(t, req, demo.Options{Hidden: map[string]bool{"attr_0": true}}, "a")
			}},
		{name: "self-attested in place of a credential's attribute", policy: "ac", want: identity.ReasonSelfAttested, noFetch: true,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				// The holder's wallet answers attr_0 in its own words.
				a := req.RequestedAttributes["attr_0"]
				a.Name = "no_such_attribute"
				req.RequestedAttributes["attr_0"] = a
				return f.prove(t, req, demo.Options{SelfAttested: map[string]string{"attr_0": "Mallory"}}, "a")
			}},
		{name: "revealed value altered", policy: "ac", want: identity.ReasonBadSignature,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				var pres anoncreds.Presentation
				if err := json.Unmarshal(f.prove(t, req, demo.Options{}, "a"), &pres); err != nil {
					t.Fatal(err)
				}
				a := pres.RequestedProof.RevealedAttrs["attr_0"]
				a.Raw = "Mallory"
				pres.RequestedProof.RevealedAttrs["attr_0"] = a
				b, _ := json.Marshal(&pres)
				return b
			}},
		{name: "non-revocation required, revocable credential definition", policy: "ac-nonrevoked", want: identity.ReasonRevocationUnsupported,
			mustFetched: []string{credDefAR},
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte {
				return f.prove(t, req, demo.Options{}, "revocable")
			}},
		{name: "malformed presentation", policy: "ac", want: identity.ReasonMalformed, noFetch: true,
			answer: func(t *testing.T, req *anoncreds.PresentationRequest) []byte { return []byte(`{"proof":`) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := newACVerifier(t)
			sent, req := f.proofRequest(t, tc.policy)
			pres := tc.answer(t, req)
			if tc.sent != nil {
				sent = tc.sent(t)
			}
			res, fetched, err := f.verify(t, v, tc.policy, sent, pres)
			if got := identity.ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q (%v), want %q; result %+v", got, err, tc.want, res)
			}
			if tc.noFetch && len(fetched) > 0 {
				t.Fatalf("refused after looking up %v; the cheap checks should have refused first", fetched)
			}
			for _, id := range tc.notFetched {
				if slices.Contains(fetched, id) {
					t.Fatalf("looked up %s", id)
				}
			}
			for _, id := range tc.mustFetched {
				if !slices.Contains(fetched, id) {
					t.Fatalf("did not look up %s (fetched %v)", id, fetched)
				}
			}
		})
	}
}

// Non-revocation required accepts a credential whose definition is not revocable: it cannot
// be revoked.
func TestVerifyAnonCredsNonRevokedNotRevocable(t *testing.T) {
	f := anonCredsFixture(t)
	sent, req := f.proofRequest(t, "ac-nonrevoked")
	res, _, err := f.verify(t, newACVerifier(t), "ac-nonrevoked", sent, f.prove(t, req, demo.Options{}, "a"))
	if err != nil || res.Claims["given_name"] != "Zoë" {
		t.Fatalf("%+v, %v", res, err)
	}
}

// A trusted issuer's credential on a schema another DID published is accepted when the policy
// restricts by schema name: the schema is read because the trusted credential definition
// names it. A presentation naming any other schema of that DID is refused before the schema
// is looked up.
func TestVerifyAnonCredsSchemaOfAnotherPublisher(t *testing.T) {
	f := anonCredsFixture(t)
	sent, req := f.proofRequest(t, "ac-schema")
	pres := f.prove(t, req, demo.Options{}, "foreign-schema")
	res, fetched, err := f.verify(t, newACVerifier(t), "ac-schema", sent, pres)
	if err != nil || res.IssuerDID != "did:sov:"+nymA || res.CredentialType != "hearro-id" || !slices.Contains(fetched, schemaB) {
		t.Fatalf("%+v, %v (fetched %v)", res, err, fetched)
	}

	var p anoncreds.Presentation
	if err := json.Unmarshal(pres, &p); err != nil {
		t.Fatal(err)
	}
	other := nymB + ":2:hearro-id:9.9"
	p.Identifiers[0].SchemaID = other
	tampered, _ := json.Marshal(&p)
	_, fetched, err = f.verify(t, newACVerifier(t), "ac-schema", sent, tampered)
	if identity.ReasonOf(err) != identity.ReasonUntrustedIssuer || slices.Contains(fetched, other) {
		t.Fatalf("%v (fetched %v)", err, fetched)
	}
}

// The proof request the verifier is given must be the policy's: one made for another
// policy is an internal error (the service mixed up its sessions), not the holder's fault.
func TestVerifyAnonCredsRequestOfAnotherPolicy(t *testing.T) {
	f := anonCredsFixture(t)
	sent, req := f.proofRequest(t, "ac-creddef")
	res, fetched, err := f.verify(t, newACVerifier(t), "ac", sent, f.prove(t, req, demo.Options{}, "a"))
	if err == nil || identity.ReasonOf(err) != "" || len(fetched) > 0 {
		t.Fatalf("%+v, %v (fetched %v)", res, err, fetched)
	}
}

// Display claims match revealed attributes as AnonCreds names match: case and spaces aside.
func TestAnonCredsDisplayMatchesAttributeNames(t *testing.T) {
	ps, err := identity.ParsePolicies([]byte(`
policies:
  - name: p
    assurance: low
    anoncreds:
      issuers: [did:sov:` + nymA + `]
      attributes: [{name: given_name}, {name: member_id}]
      display_claims: [GIVEN_NAME]
`))
	if err != nil {
		t.Fatal(err)
	}
	r := &identity.Result{Format: identity.FormatAnonCreds, Claims: map[string]any{"given_name": "Zoë", "member_id": "12345"}}
	if d := ps["p"].Display(r); !maps.Equal(d, map[string]any{"given_name": "Zoë"}) {
		t.Fatalf("display %v", d)
	}
}
