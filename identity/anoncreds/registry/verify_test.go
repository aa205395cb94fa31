package registry

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/hearro/trustbroker/identity/anoncreds"
	"github.com/hearro/trustbroker/identity/anoncreds/demo"
)

// issuer is a demo issuer with a fresh key over anoncreds-clsignatures-rs's mock primes.
type issuer struct {
	key    *demo.IssuerKey
	schema map[string]any // the schema in the AnonCreds specification's shape, without id
	value  json.RawMessage
}

var attrs = []string{"given_name", "birthdate"}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	var priv struct{ P, Q string }
	if err := json.Unmarshal(readFile(t, "../testdata/clsignatures-mocks/private_key.json"), &priv); err != nil {
		t.Fatal(err)
	}
	p, _ := new(big.Int).SetString(priv.P, 10)
	q, _ := new(big.Int).SetString(priv.Q, 10)
	key, err := demo.NewIssuerKey(rand.Reader, p, q, attrs)
	if err != nil {
		t.Fatal(err)
	}
	value, err := json.Marshal(key.CredentialDefinition("", "").Value)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{key: key, value: value, schema: map[string]any{"name": "hearro-id", "version": "1.0", "attrNames": attrs}}
}

// present issues a credential under schemaID and credDefID to a new holder and answers a
// request for the given name and a birthdate predicate, through JSON as a wallet sends it.
func (is *issuer) present(t testing.TB, schemaID, credDefID string) (*anoncreds.PresentationRequest, *anoncreds.Presentation) {
	t.Helper()
	ls, err := demo.NewLinkSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	blinded, err := ls.Blind(rand.Reader, &is.key.Public)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{"given_name": "Zoë", "birthdate": "19900101"}
	sig, err := is.key.Sign(rand.Reader, raw, anoncreds.NumOf(blinded.U), "holder")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ls.Accept(&is.key.Public, sig, blinded, raw, schemaID, credDefID)
	if err != nil {
		t.Fatal(err)
	}
	req, err := anoncreds.ParsePresentationRequest([]byte(`{"nonce":"1234567890123456789012","requested_attributes":{"name":{"name":"given_name","restrictions":[{"cred_def_id":"` + credDefID + `"}]}},
		"requested_predicates":{"adult":{"name":"birthdate","p_type":"<=","p_value":20081206}}}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := demo.Prove(rand.Reader, req, ls, []*demo.Credential{cred}, demo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	pres, err := anoncreds.ParsePresentation(b)
	if err != nil {
		t.Fatal(err)
	}
	return req, pres
}

// definitions fetches what a presentation names from r, as a verifier does.
func definitions(ctx context.Context, r Registry, pres *anoncreds.Presentation) (anoncreds.Definitions, error) {
	defs := anoncreds.Definitions{Schemas: map[string]*anoncreds.Schema{}, CredDefs: map[string]*anoncreds.CredentialDefinition{}}
	for _, id := range pres.Identifiers {
		s, err := r.Schema(ctx, id.SchemaID)
		if err != nil {
			return defs, err
		}
		d, err := r.CredentialDefinition(ctx, id.CredDefID)
		if err != nil {
			return defs, err
		}
		defs.Schemas[id.SchemaID], defs.CredDefs[id.CredDefID] = s, d
	}
	return defs, nil
}

// The demo issuer's schema and credential definition, published through each source,
// come back as definitions anoncreds.Verify accepts a presentation with.
func TestRegistryOutputVerifies(t *testing.T) {
	is := newIssuer(t)
	ctx := context.Background()

	// An Indy ledger behind indy-vdr-proxy: legacy and did:indy ids.
	ledger := newFakeLedger()
	legacySchema := ledger.addSchema(nym, "hearro-id", "1.0", attrs, 19)
	legacyCredDef := ledger.addCredDef(nym, 19, "demo", is.value, 20)
	proxy := newProxy(t, ledger.serve(t), HTTPOptions{})

	// A did:cheqd-like method behind a Universal Resolver, objects in the specification's shape.
	cheqdSchema := map[string]any{"issuerId": cheqdDID}
	for k, v := range is.schema {
		cheqdSchema[k] = v
	}
	cheqdCD := map[string]any{"issuerId": cheqdDID, "schemaId": cheqdSchemaID, "type": "CL", "tag": "demo", "value": is.value}
	uni := newUniversal(t, &fakeResolver{answers: map[string]fakeResponse{
		cheqdSchemaID: {200, dereferencingResult(cheqdSchema)},
		cheqdCredDef:  {200, dereferencingResult(cheqdCD)},
	}})

	// A pinned file.
	pinnedSchema, pinnedCredDef := "Th7MpTaRZVRYnPiabds81Y:2:hearro-id:1.0", "Th7MpTaRZVRYnPiabds81Y:3:CL:7:pinned"
	file := filepath.Join(t.TempDir(), "pinned.json")
	if err := os.WriteFile(file, mustJSON(map[string]any{
		"schemas":               map[string]any{pinnedSchema: is.schema},
		"credentialDefinitions": map[string]any{pinnedCredDef: map[string]any{"schemaId": pinnedSchema, "type": "CL", "tag": "pinned", "value": is.value}},
	}), 0o600); err != nil {
		t.Fatal(err)
	}
	pinned, err := LoadPinned(file)
	if err != nil {
		t.Fatal(err)
	}

	all := NewCache(NewRouter(Routes{Pinned: pinned, Indy: proxy, Default: uni}), CacheConfig{})
	tests := []struct {
		name            string
		reg             Registry
		schema, credDef string
	}{
		{"indy-vdr-proxy/legacy", proxy, legacySchema, legacyCredDef},
		{"indy-vdr-proxy/did:indy", proxy, "did:indy:sovrin:" + nym + "/anoncreds/v0/SCHEMA/hearro-id/1.0", "did:indy:sovrin:" + nym + "/anoncreds/v0/CLAIM_DEF/19/demo"},
		{"universal resolver", uni, cheqdSchemaID, cheqdCredDef},
		{"pinned", pinned, pinnedSchema, pinnedCredDef},
		{"cached router/ledger", all, legacySchema, legacyCredDef},
		{"cached router/resolver", all, cheqdSchemaID, cheqdCredDef},
		{"cached router/pinned", all, pinnedSchema, pinnedCredDef},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, pres := is.present(t, tt.schema, tt.credDef)
			defs, err := definitions(ctx, tt.reg, pres)
			if err != nil {
				t.Fatal(err)
			}
			res, err := anoncreds.Verify(req, pres, defs)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Verified.Attributes["name"].Raw; got != "Zoë" {
				t.Errorf("revealed %q", got)
			}
			if _, ok := res.Verified.Predicates["adult"]; !ok {
				t.Errorf("predicate not proven: %+v", res.Verified)
			}
		})
	}

	// A presentation made against a real Sovrin test-ledger credential definition verifies
	// with the definitions the ledger's replies carry.
	t.Run("indy-vdr-proxy/sovrin test ledger vector", func(t *testing.T) {
		f, _ := ledgerWithVectors(t)
		p := newProxy(t, f.serve(t), HTTPOptions{})
		req, err := anoncreds.ParsePresentationRequest(readFile(t, "../testdata/indysdk-ledger/request.json"))
		if err != nil {
			t.Fatal(err)
		}
		pres, err := anoncreds.ParsePresentation(readFile(t, "../testdata/indysdk-ledger/presentation.json"))
		if err != nil {
			t.Fatal(err)
		}
		defs, err := definitions(ctx, p, pres)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := anoncreds.Verify(req, pres, defs); err != nil {
			t.Fatal(err)
		}
	})

	// The same presentation against another issuer's key (what a source that returned
	// the wrong object would cause) is refused.
	t.Run("another key is refused", func(t *testing.T) {
		other := newIssuer(t)
		req, pres := is.present(t, legacySchema, legacyCredDef)
		f := newFakeLedger()
		f.addSchema(nym, "hearro-id", "1.0", attrs, 19)
		f.addCredDef(nym, 19, "demo", other.value, 20)
		defs, err := definitions(ctx, newProxy(t, f.serve(t), HTTPOptions{}), pres)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := anoncreds.Verify(req, pres, defs); err == nil {
			t.Fatal("verified against another issuer's key")
		}
	})
}
