package registry

import (
	"context"
	"errors"
	"testing"
)

func TestRouter(t *testing.T) {
	pinned, err := LoadPinned("testdata/pinned/objects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ledger, _ := ledgerWithVectors(t)
	unpinned := ledger.addSchema(nym, "hearro-id", "1.0", []string{"given_name", "birthdate"}, 19)
	proxy := newProxy(t, ledger.serve(t), HTTPOptions{})
	res := &fakeResolver{answers: map[string]fakeResponse{
		cheqdSchemaID: {200, dereferencingResult(map[string]any{"name": "hearro-id", "version": "1.0", "attrNames": []string{"a"}})},
		"did:indy:indicio:" + nym + "/anoncreds/v0/SCHEMA/hearro-id/1.0": {200, dereferencingResult(map[string]any{"name": "hearro-id", "version": "1.0", "attrNames": []string{"a"}})},
	}}
	uni := newUniversal(t, res)
	ctx := context.Background()

	t.Run("pinned first", func(t *testing.T) {
		rt := NewRouter(Routes{Pinned: pinned, Indy: proxy, Default: uni})
		s, err := rt.Schema(ctx, sovSchemaID)
		if err != nil || s != mustSchema(pinned.Schema(ctx, sovSchemaID)) {
			t.Fatalf("%+v, %v", s, err)
		}
		if n := ledger.count("/schema/" + sovSchemaID); n != 0 {
			t.Fatalf("ledger asked %d times for a pinned schema", n)
		}
	})
	t.Run("legacy to the ledger", func(t *testing.T) {
		rt := NewRouter(Routes{Pinned: pinned, Indy: proxy, Default: uni})
		if _, err := rt.RevocationRegistryDefinition(ctx, "WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:20:revocable:CL_ACCUM:0"); err != nil {
			t.Fatal(err) // pinned too
		}
		if _, err := rt.Schema(ctx, unpinned); err != nil {
			t.Fatal(err)
		}
		if n := ledger.count("/schema/" + unpinned); n != 1 {
			t.Fatalf("ledger asked %d times", n)
		}
	})
	t.Run("ledger's not found is final", func(t *testing.T) {
		rt := NewRouter(Routes{Indy: proxy, Default: uni})
		if _, err := rt.Schema(ctx, "did:indy:sovrin:"+nym+"/anoncreds/v0/SCHEMA/absent/1.0"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%v", err)
		}
	})
	t.Run("did:indy of an unconfigured namespace to the resolver", func(t *testing.T) {
		rt := NewRouter(Routes{Indy: proxy, Default: uni})
		if _, err := rt.Schema(ctx, "did:indy:indicio:"+nym+"/anoncreds/v0/SCHEMA/hearro-id/1.0"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("by method", func(t *testing.T) {
		rt := NewRouter(Routes{Indy: proxy, Methods: map[string]Registry{"cheqd": uni}})
		if _, err := rt.Schema(ctx, cheqdSchemaID); err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Schema(ctx, "did:webvh:QmHash:example.com/resources/schema"); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("method with no source: %v", err)
		}
	})
	t.Run("malformed", func(t *testing.T) {
		rt := NewRouter(Routes{Pinned: pinned, Indy: proxy})
		if _, err := rt.Schema(ctx, "no"); !errors.Is(err, ErrMalformedID) {
			t.Fatalf("%v", err)
		}
	})
}

func mustSchema[T any](v *T, err error) *T {
	if err != nil {
		panic(err)
	}
	return v
}
