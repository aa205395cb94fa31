package anoncreds_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"sync"
	"testing"

	"github.com/hearro/trustbroker/identity/anoncreds"
	"github.com/hearro/trustbroker/identity/anoncreds/demo"
)

const (
	schemaID  = "did:example:issuer/anoncreds/v0/SCHEMA/gvt/1.0"
	credDefID = "did:example:issuer/anoncreds/v0/CLAIM_DEF/1/gvt"
)

// fixture is an issuer key (anoncreds-clsignatures-rs's mock key, whose p', q' are known),
// a schema, a holder and two credentials of it.
type fixture struct {
	key    *demo.IssuerKey
	schema *anoncreds.Schema
	defs   anoncreds.Definitions
	ls     *demo.LinkSecret
	alex   *demo.Credential
}

var (
	fixOnce sync.Once
	fix     *fixture
	fixErr  error
)

func loadFixture(t testing.TB) *fixture {
	t.Helper()
	fixOnce.Do(func() { fix, fixErr = newFixture() })
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fix
}

func newFixture() (*fixture, error) {
	var mocks struct {
		PublicKey anoncreds.PrimaryPublicKey `json:"public_key"`
	}
	var priv struct{ P, Q string }
	for path, v := range map[string]any{"testdata/clsignatures-mocks/vectors.json": &mocks, "testdata/clsignatures-mocks/private_key.json": &priv} {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, err
		}
	}
	p, _ := new(big.Int).SetString(priv.P, 10)
	q, _ := new(big.Int).SetString(priv.Q, 10)
	key, err := demo.KeyFromParts(mocks.PublicKey, p, q)
	if err != nil {
		return nil, err
	}
	f := &fixture{key: key, schema: &anoncreds.Schema{ID: schemaID, Name: "gvt", Version: "1.0", AttrNames: []string{"name", "age", "height", "sex"}}}
	f.defs = anoncreds.Definitions{
		Schemas:  map[string]*anoncreds.Schema{schemaID: f.schema},
		CredDefs: map[string]*anoncreds.CredentialDefinition{credDefID: key.CredentialDefinition(credDefID, schemaID)},
	}
	if f.ls, err = demo.NewLinkSecret(rand.Reader); err != nil {
		return nil, err
	}
	f.alex, err = f.issue(f.ls, map[string]string{"name": "Alex", "age": "28", "height": "175", "sex": "male"})
	return f, err
}

func (f *fixture) issue(ls *demo.LinkSecret, raw map[string]string) (*demo.Credential, error) {
	b, err := ls.Blind(rand.Reader, &f.key.Public)
	if err != nil {
		return nil, err
	}
	sig, err := f.key.Sign(rand.Reader, raw, anoncreds.NumOf(b.U), "holder-did")
	if err != nil {
		return nil, err
	}
	return ls.Accept(&f.key.Public, sig, b, raw, schemaID, credDefID)
}

func request(t testing.TB, js string) *anoncreds.PresentationRequest {
	t.Helper()
	r, err := anoncreds.ParsePresentationRequest([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// prove builds a presentation and sends it through JSON, as a wallet would.
func prove(t testing.TB, f *fixture, req *anoncreds.PresentationRequest, creds []*demo.Credential, opts demo.Options) []byte {
	t.Helper()
	p, err := demo.Prove(rand.Reader, req, f.ls, creds, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func verifyJSON(req *anoncreds.PresentationRequest, pres []byte, defs anoncreds.Definitions) (*anoncreds.Result, error) {
	p, err := anoncreds.ParsePresentation(pres)
	if err != nil {
		return nil, err
	}
	return anoncreds.Verify(req, p, defs)
}

const twoAttrsOnePredicate = `{"nonce":"1164046393264787986302355","name":"kyc","version":"1.0",
 "requested_attributes":{"attr_name":{"name":"name","restrictions":[{"cred_def_id":"` + credDefID + `"}]},
                         "attr_sex":{"name":"Sex"}},
 "requested_predicates":{"adult":{"name":"age","p_type":">=","p_value":18,"restrictions":[{"schema_name":"gvt"}]}}}`

func TestRoundTripEveryPredicateType(t *testing.T) {
	f := loadFixture(t)
	cases := []struct {
		pType string
		value int32
	}{{">=", 18}, {">=", 28}, {">", 27}, {"<=", 28}, {"<=", 65}, {"<", 29}, {">=", -5}, {"<", 2147483647}}
	for _, c := range cases {
		t.Run(c.pType+" "+big.NewInt(int64(c.value)).String(), func(t *testing.T) {
			req := request(t, `{"nonce":"42","requested_attributes":{"n":{"name":"name"},"s":{"name":"sex"}},
				"requested_predicates":{"p":{"name":"age","p_type":"`+c.pType+`","p_value":`+big.NewInt(int64(c.value)).String()+`}}}`)
			res, err := verifyJSON(req, prove(t, f, req, []*demo.Credential{f.alex}, demo.Options{}), f.defs)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Verified.Predicates["p"]; got.PType != c.pType || got.PValue != c.value || got.Name != "age" {
				t.Fatalf("predicate %+v", got)
			}
			if res.Verified.Attributes["n"].Raw != "Alex" || res.Verified.Attributes["s"].Raw != "male" {
				t.Fatalf("attributes %+v", res.Verified.Attributes)
			}
		})
	}
	// An unsatisfied predicate cannot be proven.
	req := request(t, `{"nonce":"42","requested_attributes":{},"requested_predicates":{"p":{"name":"age","p_type":">","p_value":28}}}`)
	if _, err := demo.Prove(rand.Reader, req, f.ls, []*demo.Credential{f.alex}, demo.Options{}); err == nil {
		t.Fatal("proved age > 28 for 28")
	}
}

func TestRoundTripGroupsHiddenAndSelfAttested(t *testing.T) {
	f := loadFixture(t)
	req := request(t, `{"nonce":"7","requested_attributes":{
		"g":{"names":["name","height"]},
		"h":{"name":"sex"},
		"phone":{"name":"phone"}},
		"requested_predicates":{}}`)
	pres := prove(t, f, req, []*demo.Credential{f.alex}, demo.Options{Hidden: map[string]bool{"h": true}, SelfAttested: map[string]string{"phone": "+41 00"}})
	res, err := verifyJSON(req, pres, f.defs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified.Groups["g"]["height"].Raw != "175" || res.Verified.Groups["g"]["name"].Raw != "Alex" {
		t.Fatalf("groups %+v", res.Verified.Groups)
	}
	if res.Verified.Hidden["h"].Name != "sex" {
		t.Fatalf("hidden %+v", res.Verified.Hidden)
	}
	if _, ok := res.Verified.Attributes["phone"]; ok || res.Unverified.SelfAttested["phone"] != "+41 00" {
		t.Fatalf("self-attested value must be in Unverified only: %+v", res)
	}

	// A restricted attribute cannot be self-attested.
	restricted := request(t, `{"nonce":"7","requested_attributes":{"phone":{"name":"phone","restrictions":[{"issuer_did":"x"}]}},"requested_predicates":{}}`)
	pres = prove(t, f, restricted, nil, demo.Options{SelfAttested: map[string]string{"phone": "+41 00"}})
	if _, err := verifyJSON(restricted, pres, f.defs); !errors.Is(err, anoncreds.ErrRequestMismatch) {
		t.Fatalf("got %v, want request_mismatch", err)
	}
}

func TestPredicateForADifferentValueRefused(t *testing.T) {
	f := loadFixture(t)
	req := request(t, twoAttrsOnePredicate)
	pres := prove(t, f, req, []*demo.Credential{f.alex}, demo.Options{})
	if _, err := verifyJSON(req, pres, f.defs); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, pType, value string }{
		{"higher bound", ">=", "21"}, {"lower bound", ">=", "17"}, {"other type", ">", "18"}, {"reversed", "<=", "18"},
	} {
		t.Run(c.name, func(t *testing.T) {
			other := request(t, `{"nonce":"1164046393264787986302355","requested_attributes":{"attr_name":{"name":"name"},"attr_sex":{"name":"sex"}},
				"requested_predicates":{"adult":{"name":"age","p_type":"`+c.pType+`","p_value":`+c.value+`}}}`)
			if _, err := verifyJSON(other, pres, f.defs); !errors.Is(err, anoncreds.ErrPredicateFailed) {
				t.Fatalf("got %v, want predicate_failed", err)
			}
		})
	}
	// Rewriting the proof's predicate to the asked one breaks the proof.
	var m map[string]any
	_ = json.Unmarshal(pres, &m)
	ge := m["proof"].(map[string]any)["proofs"].([]any)[0].(map[string]any)["primary_proof"].(map[string]any)["ge_proofs"].([]any)[0].(map[string]any)
	ge["predicate"].(map[string]any)["value"] = 21
	forged, _ := json.Marshal(m)
	other := request(t, `{"nonce":"1164046393264787986302355","requested_attributes":{"attr_name":{"name":"name"},"attr_sex":{"name":"sex"}},
		"requested_predicates":{"adult":{"name":"age","p_type":">=","p_value":21}}}`)
	if _, err := verifyJSON(other, forged, f.defs); !errors.Is(err, anoncreds.ErrChallengeMismatch) {
		t.Fatalf("got %v, want challenge_mismatch", err)
	}
}

func TestRoundTripTampersRefused(t *testing.T) {
	f := loadFixture(t)
	req := request(t, twoAttrsOnePredicate)
	pres := prove(t, f, req, []*demo.Credential{f.alex}, demo.Options{})
	if _, err := verifyJSON(req, pres, f.defs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, tm := range anoncreds.NumberTampers(t, pres, "proof", "requested_proof") {
		n++
		if _, err := verifyJSON(req, tm.Doc, f.defs); err == nil {
			t.Errorf("%s accepted", tm.Path)
		}
	}
	wrongNonce := *req
	wrongNonce.Nonce = "1164046393264787986302356"
	if _, err := verifyJSON(&wrongNonce, pres, f.defs); !errors.Is(err, anoncreds.ErrChallengeMismatch) {
		t.Fatalf("wrong nonce: got %v", err)
	}
	t.Logf("%d single-number tampers", n)
}

func TestRestrictionsEnforced(t *testing.T) {
	f := loadFixture(t)
	for _, c := range []struct {
		restriction string
		ok          bool
	}{
		{`[{"cred_def_id":"` + credDefID + `"}]`, true},
		{`[{"cred_def_id":"other"},{"schema_name":"gvt","schema_version":"1.0"}]`, true},
		{`[{"attr::name::value":"Alex"}]`, true},
		{`{"schema_id":{"$in":["a","` + schemaID + `"]}}`, true},
		{`[{"cred_def_id":"other"}]`, false},
		{`[{"attr::name::value":"Bob"}]`, false},
		{`[{"schema_name":"gvt","schema_version":"2.0"}]`, false},
		{`{"$not":{"schema_name":"gvt"}}`, false},
	} {
		t.Run(c.restriction, func(t *testing.T) {
			req := request(t, `{"nonce":"9","requested_attributes":{"n":{"name":"name","restrictions":`+c.restriction+`}},"requested_predicates":{}}`)
			_, err := verifyJSON(req, prove(t, f, req, []*demo.Credential{f.alex}, demo.Options{}), f.defs)
			if c.ok && err != nil || !c.ok && !errors.Is(err, anoncreds.ErrRequestMismatch) {
				t.Fatalf("got %v", err)
			}
		})
	}
	req := request(t, `{"nonce":"9","requested_attributes":{"n":{"name":"name","restrictions":[{"schema_name":{"$like":"g%"}}]}},"requested_predicates":{}}`)
	if _, err := verifyJSON(req, prove(t, f, req, []*demo.Credential{f.alex}, demo.Options{}), f.defs); !errors.Is(err, anoncreds.ErrMalformed) {
		t.Fatalf("unsupported operator: got %v, want malformed", err)
	}
}

func TestTwoCredentialsShareTheLinkSecret(t *testing.T) {
	f := loadFixture(t)
	other, err := f.issue(f.ls, map[string]string{"name": "Alex", "age": "30", "height": "180", "sex": "male"})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, `{"nonce":"5","requested_attributes":{"n":{"name":"name"}},"requested_predicates":{"p":{"name":"age","p_type":">=","p_value":29}}}`)
	pres := prove(t, f, req, []*demo.Credential{f.alex, other}, demo.Options{})
	res, err := verifyJSON(req, pres, f.defs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Verified.Credentials) != 2 || res.Verified.Predicates["p"].SubProof != 1 {
		t.Fatalf("result %+v", res.Verified)
	}

	// A credential of somebody else (another link secret) cannot be combined.
	stranger, _ := demo.NewLinkSecret(rand.Reader)
	theirs, err := f.issue(stranger, map[string]string{"name": "Eve", "age": "40", "height": "170", "sex": "female"})
	if err != nil {
		t.Fatal(err)
	}
	mixed := mixLinkSecrets(t, f, req, f.alex, theirs, stranger)
	if _, err := verifyJSON(req, mixed, f.defs); !errors.Is(err, anoncreds.ErrProofInvalid) {
		t.Fatalf("got %v, want proof_invalid", err)
	}
}

// mixLinkSecrets proves with two holders' credentials: each sub-proof is honest for its own
// link secret, so only the link-secret binding can catch it.
func mixLinkSecrets(t *testing.T, f *fixture, req *anoncreds.PresentationRequest, mine, theirs *demo.Credential, their *demo.LinkSecret) []byte {
	t.Helper()
	p, err := demo.ProveMixed(rand.Reader, req, []*demo.LinkSecret{f.ls, their}, []*demo.Credential{mine, theirs})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(p)
	return b
}

// With e = 1 anyone can compute a "signature" A = Z / (U·S^v·∏R^m·Rctxt^m2) on any values.
// Its proof has ê < 0. The reference verifiers have no range check on ê; without ours the
// forgery verifies, with it the forgery is refused.
func TestNegativeEForgeryRefused(t *testing.T) {
	f := loadFixture(t)
	pub := &f.key.Public
	n := pub.N.Big()
	raw := map[string]string{"name": "Mallory", "age": "99", "height": "1", "sex": "x"}
	b, err := f.ls.Blind(rand.Reader, pub)
	if err != nil {
		t.Fatal(err)
	}
	vpp := big.NewInt(12345)
	den := new(big.Int).Mul(b.U, new(big.Int).Exp(pub.S.Big(), vpp, n))
	for name, v := range raw {
		den.Mul(den, new(big.Int).Exp(pub.R[name].Big(), anoncreds.Encode(v), n)).Mod(den, n)
	}
	m2 := big.NewInt(1)
	den.Mul(den, new(big.Int).Exp(pub.Rctxt.Big(), m2, n)).Mod(den, n)
	a := new(big.Int).ModInverse(den, n)
	a.Mul(a, pub.Z.Big()).Mod(a, n)
	forged, err := f.ls.Accept(pub, &demo.Signature{A: a, E: big.NewInt(1), VPrimePrime: vpp, M2: m2}, b, raw, schemaID, credDefID)
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, `{"nonce":"11","requested_attributes":{"n":{"name":"name"}},"requested_predicates":{"p":{"name":"age","p_type":">=","p_value":21}}}`)
	pres := prove(t, f, req, []*demo.Credential{forged}, demo.Options{})
	p, err := anoncreds.ParsePresentation(pres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := anoncreds.VerifyWithoutRanges(req, p, f.defs); err != nil {
		t.Fatalf("without range checks the forgery should verify (that is the attack): %v", err)
	}
	if _, err := anoncreds.Verify(req, p, f.defs); !errors.Is(err, anoncreds.ErrProofInvalid) {
		t.Fatalf("got %v, want proof_invalid", err)
	}
}

func TestRevocationRefused(t *testing.T) {
	f := loadFixture(t)
	req := request(t, `{"nonce":"3","requested_attributes":{"n":{"name":"name","non_revoked":{"to":1700000000}}},"requested_predicates":{}}`)
	pres := prove(t, f, req, []*demo.Credential{f.alex}, demo.Options{})
	// The definition is not revocable: nothing to check, it verifies.
	if _, err := verifyJSON(req, pres, f.defs); err != nil {
		t.Fatal(err)
	}
	// A revocable definition (revocation key present) and a request for non-revocation.
	revocable := *f.defs.CredDefs[credDefID]
	revocable.Value.Revocation = json.RawMessage(`{"g":"1 0 1 0 2 0"}`)
	defs := anoncreds.Definitions{Schemas: f.defs.Schemas, CredDefs: map[string]*anoncreds.CredentialDefinition{credDefID: &revocable}}
	if _, err := verifyJSON(req, pres, defs); !errors.Is(err, anoncreds.ErrRevocationUnsupported) {
		t.Fatalf("got %v, want revocation_unsupported", err)
	}
	// Without the request for it, the revocable credential verifies and says so.
	plain := request(t, `{"nonce":"3","requested_attributes":{"n":{"name":"name"}},"requested_predicates":{}}`)
	res, err := verifyJSON(plain, prove(t, f, plain, []*demo.Credential{f.alex}, demo.Options{}), defs)
	if err != nil || !res.Verified.Credentials[0].Revocable {
		t.Fatalf("got %v, %+v", err, res)
	}
	// A presentation carrying a non-revocation proof cannot be checked at all.
	var m map[string]any
	_ = json.Unmarshal(pres, &m)
	m["proof"].(map[string]any)["proofs"].([]any)[0].(map[string]any)["non_revoc_proof"] = map[string]any{"x_list": map[string]any{}}
	withNRP, _ := json.Marshal(m)
	if _, err := verifyJSON(plain, withNRP, f.defs); !errors.Is(err, anoncreds.ErrRevocationUnsupported) {
		t.Fatalf("got %v, want revocation_unsupported", err)
	}
}

type (
	demoCredential = demo.Credential
	demoOptions    = demo.Options
)
