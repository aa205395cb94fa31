package anoncreds

import (
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
)

// vector is one external presentation with everything needed to verify it.
type vector struct {
	name                  string
	request, presentation []byte
	schema, credDef       []byte
	schemaID, credDefID   string
	standardEncoding      bool // raw values use the standard encoding
}

func readTestdata(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"testdata"}, parts...)...))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// externalVectors: a presentation from a Sovrin test ledger kept in indy-sdk's verifier
// tests, and indy-sdk's own correct-proof fixture (its raw value "Alex" is encoded by an old
// indy test convention, not the standard encoding). See testdata/README.md.
func externalVectors(t testing.TB) []vector {
	return []vector{{
		name:         "indy-sdk ledger presentation",
		request:      readTestdata(t, "indysdk-ledger", "request.json"),
		presentation: readTestdata(t, "indysdk-ledger", "presentation.json"),
		schema:       readTestdata(t, "indysdk-ledger", "schema.json"),
		credDef:      readTestdata(t, "indysdk-ledger", "creddef.json"),
		schemaID:     "WpoQirzsNJK2MUZh3NtbF2:2:r-test6:0.0.6", credDefID: "WpoQirzsNJK2MUZh3NtbF2:3:CL:13054:latest",
		standardEncoding: true,
	}, {
		name:         "indy-sdk gvt fixture",
		request:      readTestdata(t, "indysdk-gvt", "request.json"),
		presentation: readTestdata(t, "indysdk-gvt", "presentation.json"),
		schema:       readTestdata(t, "indysdk-gvt", "schema.json"),
		credDef:      readTestdata(t, "indysdk-gvt", "creddef.json"),
		schemaID:     "NcYxiDXkpYi6ov5FcYDi1e:2:gvt:1.0", credDefID: "NcYxiDXkpYi6ov5FcYDi1e:3:CL:NcYxiDXkpYi6ov5FcYDi1e:2:gvt:1.0:TAG_1",
	}}
}

// run parses everything and verifies: the whole presentation when the vector uses the
// standard encoding, else only its CL proof.
func (v vector) run(req, pres, schema, credDef []byte) error {
	r, err := ParsePresentationRequest(req)
	if err != nil {
		return err
	}
	p, err := ParsePresentation(pres)
	if err != nil {
		return err
	}
	s, err := ParseSchema(schema)
	if err != nil {
		return err
	}
	d, err := ParseCredentialDefinition(credDef)
	if err != nil {
		return err
	}
	if v.standardEncoding {
		_, err = Verify(r, p, Definitions{Schemas: map[string]*Schema{v.schemaID: s}, CredDefs: map[string]*CredentialDefinition{v.credDefID: d}})
		return err
	}
	k, err := newCLKey(&d.Value.Primary, s.AttrNames)
	if err != nil {
		return err
	}
	nonce, _ := ParseDecimal(r.Nonce)
	return verifyCL(&p.Proof, []*clKey{k}, nonce, clOpts{})
}

func TestExternalVectorsVerify(t *testing.T) {
	for _, v := range externalVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			if err := v.run(v.request, v.presentation, v.schema, v.credDef); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLedgerVectorResult(t *testing.T) {
	v := externalVectors(t)[0]
	r, _ := ParsePresentationRequest(v.request)
	p, _ := ParsePresentation(v.presentation)
	s, _ := ParseSchema(v.schema)
	d, _ := ParseCredentialDefinition(v.credDef)
	res, err := Verify(r, p, Definitions{Schemas: map[string]*Schema{v.schemaID: s}, CredDefs: map[string]*CredentialDefinition{v.credDefID: d}})
	if err != nil {
		t.Fatal(err)
	}
	got := res.Verified.Attributes["c"]
	if got.Raw != "c" || got.Encoded.String() != "21027550693477535543327579570081618952892630736730429980018215117041635618758" || got.SubProof != 0 {
		t.Fatalf("revealed c = %+v", got)
	}
	if len(res.Unverified.SelfAttested) != 0 || res.Verified.Credentials[0].Revocable {
		t.Fatalf("unexpected result %+v", res)
	}
}

// The indy-sdk fixture's crypto verifies, but its raw value does not encode to the signed
// value under the standard encoding: Verify must refuse it.
func TestNonStandardEncodingRefused(t *testing.T) {
	v := externalVectors(t)[1]
	v.standardEncoding = true
	err := v.run(v.request, v.presentation, v.schema, v.credDef)
	if !errors.Is(err, ErrEncodingMismatch) {
		t.Fatalf("got %v, want encoding_mismatch", err)
	}
}

func TestWrongNonceRefused(t *testing.T) {
	for _, v := range externalVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			req := mutateJSON(t, v.request, func(m map[string]any) { m["nonce"] = "123432421213" })
			if err := v.run(req, v.presentation, v.schema, v.credDef); !errors.Is(err, ErrChallengeMismatch) {
				t.Fatalf("got %v, want challenge_mismatch", err)
			}
		})
	}
}

func TestRevealedValueMismatchRefused(t *testing.T) {
	v := externalVectors(t)[0]
	cases := map[string]func(m map[string]any){
		"raw changed": func(m map[string]any) {
			rp(m)["revealed_attrs"].(map[string]any)["c"].(map[string]any)["raw"] = "d"
		},
		"encoded changed to the raw's hash of another value": func(m map[string]any) {
			rp(m)["revealed_attrs"].(map[string]any)["c"].(map[string]any)["encoded"] = Encode("d").String()
		},
		"raw and encoded changed together": func(m map[string]any) {
			a := rp(m)["revealed_attrs"].(map[string]any)["c"].(map[string]any)
			a["raw"], a["encoded"] = "d", Encode("d").String()
		},
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			err := v.run(v.request, mutateJSON(t, v.presentation, f), v.schema, v.credDef)
			if !errors.Is(err, ErrEncodingMismatch) {
				t.Fatalf("got %v, want encoding_mismatch", err)
			}
		})
	}
	// The signed value itself changed to match a different raw value: the proof breaks.
	t.Run("signed value changed with raw and encoded", func(t *testing.T) {
		err := v.run(v.request, mutateJSON(t, v.presentation, func(m map[string]any) {
			a := rp(m)["revealed_attrs"].(map[string]any)["c"].(map[string]any)
			a["raw"], a["encoded"] = "d", Encode("d").String()
			eq := m["proof"].(map[string]any)["proofs"].([]any)[0].(map[string]any)["primary_proof"].(map[string]any)["eq_proof"].(map[string]any)
			eq["revealed_attrs"].(map[string]any)["c"] = Encode("d").String()
		}), v.schema, v.credDef)
		if !errors.Is(err, ErrChallengeMismatch) {
			t.Fatalf("got %v, want challenge_mismatch", err)
		}
	})
}

func rp(m map[string]any) map[string]any { return m["requested_proof"].(map[string]any) }

func mutateJSON(t testing.TB, b []byte, f func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// clMocks are anoncreds-clsignatures-rs's unit-test mocks: a key, an equality proof, a
// predicate proof (age >= 18) and the T̂ values its verifier tests expect from them.
type clMocks struct {
	PublicKey       PrimaryPublicKey  `json:"public_key"`
	SchemaAttrNames []string          `json:"schema_attr_names"`
	EqProof         EqProof           `json:"eq_proof"`
	GeProof         GeProof           `json:"ge_proof"`
	CHash           *Num              `json:"c_hash"`
	ExpectedEq      string            `json:"expected_eq_t_hat"`
	ExpectedGe      map[string]string `json:"expected_ge_t_hat"`
}

// The mocks are not a consistent presentation (their non-revocation part is missing and
// their randomness is fixed), so this checks the two T̂ computations against the values the
// reference's own tests assert, without range checks (the mocks' m̂ are oversized).
func TestCLSignaturesMockTValues(t *testing.T) {
	var m clMocks
	if err := json.Unmarshal(readTestdata(t, "clsignatures-mocks", "vectors.json"), &m); err != nil {
		t.Fatal(err)
	}
	if err := m.PublicKey.normalize(); err != nil {
		t.Fatal(err)
	}
	k, err := newCLKey(&m.PublicKey, m.SchemaAttrNames)
	if err != nil {
		t.Fatal(err)
	}
	x := &exper{n: k.n}
	c := m.CHash.Big()
	tHat, err := verifyEquality(x, k, &m.EqProof, c)
	if err != nil {
		t.Fatal(err)
	}
	if tHat.String() != m.ExpectedEq {
		t.Fatalf("eq T̂ = %s…, want %s…", tHat.String()[:20], m.ExpectedEq[:20])
	}
	ts, err := verifyPredicate(x, k, &m.GeProof, c)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{0: m.ExpectedGe["0"], 4: m.ExpectedGe["4"], 5: m.ExpectedGe["5"]} {
		if ts[i].String() != want {
			t.Fatalf("ge T̂[%d] = %s…, want %s…", i, ts[i].String()[:20], want[:20])
		}
	}
	// The same proof read as a different predicate gives different T̂ values.
	for _, p := range []Predicate{{"age", "GE", 17}, {"age", "GT", 18}, {"age", "LE", 18}} {
		g := m.GeProof
		g.Predicate = p
		ts, err := verifyPredicate(x, k, &g, c)
		if err != nil {
			t.Fatal(err)
		}
		if ts[4].String() == m.ExpectedGe["4"] {
			t.Fatalf("predicate %+v gives the same T̂_Δ", p)
		}
	}
	if _, err := verifyPredicate(x, k, &m.GeProof, new(big.Int).Add(c, big.NewInt(1))); err != nil {
		t.Fatal(err)
	}
}

// Parsed inputs are shared read-only: concurrent verifications of one presentation against
// one cached definition are race-free (run with -race).
func TestVerifyConcurrently(t *testing.T) {
	v := externalVectors(t)[0]
	r, _ := ParsePresentationRequest(v.request)
	p, _ := ParsePresentation(v.presentation)
	s, _ := ParseSchema(v.schema)
	d, _ := ParseCredentialDefinition(v.credDef)
	defs := Definitions{Schemas: map[string]*Schema{v.schemaID: s}, CredDefs: map[string]*CredentialDefinition{v.credDefID: d}}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := Verify(r, p, defs)
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
