package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const (
	cheqdDID      = "did:cheqd:testnet:d8ac0372-0d4b-413e-8ef5-8e8f07822b2c"
	cheqdSchemaID = cheqdDID + "/resources/a0f6ede4-0ac6-4de9-a4b5-6a2d3d6a9d6b"
	cheqdCredDef  = cheqdDID + "/resources/77465164-5646-42d9-9a0a-f7b2dcb855c0"
)

// fakeResolver answers GET /1.0/identifiers/{DID URL} from a map, as a Universal Resolver
// would after asking a method driver.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string]fakeResponse
	hits    int
}

func (f *fakeResolver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits++
	id, ok := strings.CutPrefix(r.RequestURI, "/1.0/identifiers/")
	a, found := f.answers[id]
	if !ok || !found {
		w.Header().Set("Content-Type", "application/ld+json;profile=\"https://w3id.org/did-resolution\"")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"@context":"https://w3id.org/did-resolution/v1","dereferencingMetadata":{"error":"notFound"},"contentStream":null,"contentMetadata":{}}`))
		return
	}
	w.Header().Set("Content-Type", "application/ld+json;profile=\"https://w3id.org/did-resolution\"")
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func dereferencingResult(content any) []byte {
	b, _ := json.Marshal(map[string]any{"@context": "https://w3id.org/did-resolution/v1", "dereferencingMetadata": map[string]any{"contentType": "application/json"},
		"contentStream": content, "contentMetadata": map[string]any{"created": "2024-11-02T10:41:51Z", "resourceType": "anonCredsSchema"}})
	return b
}

func newUniversal(t testing.TB, f http.Handler) *UniversalResolver {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	u, err := NewUniversalResolver(srv.URL, srv.Client(), HTTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestUniversalResolver(t *testing.T) {
	cd := json.RawMessage(readFile(t, "../testdata/indysdk-ledger/creddef.json"))
	var cdNoID map[string]any
	_ = json.Unmarshal(cd, &cdNoID)
	delete(cdNoID, "id")
	cdNoID["schemaId"] = cheqdSchemaID
	cdNoID["issuerId"] = cheqdDID
	schema := map[string]any{"issuerId": cheqdDID, "name": "hearro-id", "version": "1.0", "attrNames": []string{"given_name", "birthdate"}}
	f := &fakeResolver{answers: map[string]fakeResponse{
		cheqdSchemaID: {200, dereferencingResult(schema)},
		cheqdCredDef:  {200, dereferencingResult(cdNoID)},
	}}
	// did:indy through the Universal Resolver's indy driver (indy-vdr's resolver).
	ledger, _ := ledgerWithVectors(t)
	ledgerSrv := ledger.serve(t)
	indySchema := "did:indy:sovrin:WpoQirzsNJK2MUZh3NtbF2/anoncreds/v0/SCHEMA/r-test6/0.0.6"
	indyCredDef := "did:indy:sovrin:WpoQirzsNJK2MUZh3NtbF2/anoncreds/v0/CLAIM_DEF/13054/latest"
	for _, id := range []string{indySchema, indyCredDef} {
		resp, err := ledgerSrv.Client().Get(ledgerSrv.URL + "/1.0/identifiers/" + id)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		f.answers[id] = fakeResponse{200, b}
	}
	u := newUniversal(t, f)
	ctx := context.Background()

	s, err := u.Schema(ctx, cheqdSchemaID)
	if err != nil || s.ID != cheqdSchemaID || s.IssuerID != cheqdDID || len(s.AttrNames) != 2 {
		t.Fatalf("cheqd schema %+v, %v", s, err)
	}
	d, err := u.CredentialDefinition(ctx, cheqdCredDef)
	if err != nil || d.ID != cheqdCredDef || d.SchemaID != cheqdSchemaID || d.Value.Primary.N == nil {
		t.Fatalf("cheqd credential definition %+v, %v", d, err)
	}
	s, err = u.Schema(ctx, indySchema)
	if err != nil || s.ID != indySchema || s.IssuerID != "did:indy:sovrin:WpoQirzsNJK2MUZh3NtbF2" {
		t.Fatalf("did:indy schema %+v, %v", s, err)
	}
	d, err = u.CredentialDefinition(ctx, indyCredDef)
	if err != nil || d.ID != indyCredDef || d.SchemaID != "13054" {
		t.Fatalf("did:indy credential definition %+v, %v", d, err)
	}
}

func TestUniversalResolverErrors(t *testing.T) {
	schema := map[string]any{"name": "hearro-id", "version": "1.0", "attrNames": []string{"given_name"}}
	other := map[string]any{"issuerId": "did:cheqd:testnet:00000000-0000-0000-0000-000000000000", "name": "hearro-id", "version": "1.0", "attrNames": []string{"a"}}
	tests := []struct {
		name   string
		answer *fakeResponse
		id     string
		want   error
	}{
		{"notFound", nil, cheqdSchemaID, ErrNotFound},
		{"400/invalidDidUrl", &fakeResponse{400, []byte(`{"dereferencingMetadata":{"error":"invalidDidUrl"}}`)}, cheqdSchemaID, ErrMalformedID},
		{"400/other", &fakeResponse{400, []byte(`bad request`)}, cheqdSchemaID, ErrUnavailable},
		{"200/invalidDidUrl", &fakeResponse{200, []byte(`{"dereferencingMetadata":{"error":"invalidDidUrl"}}`)}, cheqdSchemaID, ErrMalformedID},
		{"200/internalError", &fakeResponse{200, []byte(`{"dereferencingMetadata":{"error":"internalError"}}`)}, cheqdSchemaID, ErrUnavailable},
		{"500", &fakeResponse{500, []byte(`driver failed`)}, cheqdSchemaID, ErrUnavailable},
		{"502", &fakeResponse{502, nil}, cheqdSchemaID, ErrUnavailable},
		{"no content", &fakeResponse{200, []byte(`{"dereferencingMetadata":{},"contentStream":null}`)}, cheqdSchemaID, ErrNotFound},
		{"malformed JSON", &fakeResponse{200, []byte(`{"contentStream":{"name":`)}, cheqdSchemaID, ErrInvalidObject},
		{"another issuer's object", &fakeResponse{200, dereferencingResult(other)}, cheqdSchemaID, ErrInvalidObject},
		{"object with another id", &fakeResponse{200, dereferencingResult(map[string]any{"id": cheqdCredDef, "name": "x", "version": "1", "attrNames": []string{"a"}})}, cheqdSchemaID, ErrInvalidObject},
		{"not a schema", &fakeResponse{200, dereferencingResult(map[string]any{"foo": "bar"})}, cheqdSchemaID, ErrInvalidObject},
		{"raw object", &fakeResponse{200, mustJSON(schema)}, cheqdSchemaID, nil},
		{"content as a string", &fakeResponse{200, mustJSON(map[string]any{"contentStream": string(mustJSON(schema))})}, cheqdSchemaID, nil},
		{"legacy id", nil, sovSchemaID, ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeResolver{answers: map[string]fakeResponse{}}
			if tt.answer != nil {
				f.answers[tt.id] = *tt.answer
			}
			_, err := newUniversal(t, f).Schema(context.Background(), tt.id)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("status lists", func(t *testing.T) {
		u := newUniversal(t, &fakeResolver{})
		if _, err := u.RevocationStatusList(context.Background(), cheqdDID+"/resources/x", 0); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%v", err)
		}
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
