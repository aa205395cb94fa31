package demo

import (
	"crypto/rand"
	"encoding/json"
	"math/big"
	"os"
	"testing"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

func TestFourSquares(t *testing.T) {
	for _, d := range []int64{0, 1, 2, 3, 7, 15, 28, 63, 127, 1 << 20, 20251205, 2147483647, 4294967295} {
		s := fourSquares(d)
		if s[0]*s[0]+s[1]*s[1]+s[2]*s[2]+s[3]*s[3] != d {
			t.Fatalf("fourSquares(%d) = %v", d, s)
		}
	}
}

// A key made by NewIssuerKey from known safe primes issues credentials whose
// presentations verify.
func TestNewIssuerKeyRoundTrip(t *testing.T) {
	b, err := os.ReadFile("../testdata/clsignatures-mocks/private_key.json")
	if err != nil {
		t.Fatal(err)
	}
	var priv struct{ P, Q string }
	if err := json.Unmarshal(b, &priv); err != nil {
		t.Fatal(err)
	}
	p, _ := new(big.Int).SetString(priv.P, 10)
	q, _ := new(big.Int).SetString(priv.Q, 10)
	key, err := NewIssuerKey(rand.Reader, p, q, []string{"Given Name", "birthdate"})
	if err != nil {
		t.Fatal(err)
	}
	schema := &anoncreds.Schema{ID: "s", Name: "id", Version: "1", AttrNames: []string{"Given Name", "birthdate"}}
	cd := key.CredentialDefinition("d", "s")
	ls, _ := NewLinkSecret(rand.Reader)
	blinded, err := ls.Blind(rand.Reader, &key.Public)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{"Given Name": "Zoë", "birthdate": "19900101"}
	sig, err := key.Sign(rand.Reader, raw, anoncreds.NumOf(blinded.U), "holder")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ls.Accept(&key.Public, sig, blinded, raw, "s", "d")
	if err != nil {
		t.Fatal(err)
	}
	req, err := anoncreds.ParsePresentationRequest([]byte(`{"nonce":"99","requested_attributes":{"n":{"name":"givenname"}},
		"requested_predicates":{"born_before":{"name":"birthdate","p_type":"<=","p_value":20071205}}}`))
	if err != nil {
		t.Fatal(err)
	}
	pres, err := Prove(rand.Reader, req, ls, []*Credential{cred}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := anoncreds.Verify(req, pres, anoncreds.Definitions{
		Schemas: map[string]*anoncreds.Schema{"s": schema}, CredDefs: map[string]*anoncreds.CredentialDefinition{"d": cd}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified.Attributes["n"].Raw != "Zoë" {
		t.Fatalf("result %+v", res.Verified)
	}
}
