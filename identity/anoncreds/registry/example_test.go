package registry_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/identity/anoncreds/registry"
)

func ExampleParseID() {
	for _, s := range []string{
		"WgWxqztrNooG92RXvxSTWv:3:CL:20:revocable",
		"did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/hearro-id/1.0",
		"did:cheqd:testnet:d8ac0372-0d4b-413e-8ef5-8e8f07822b2c/resources/a0f6ede4-0ac6-4de9-a4b5-6a2d3d6a9d6b",
		"did:indy:sovrin:WgWxqztrNooG92RXvxSTWv",
	} {
		id, err := registry.ParseID(s)
		if err != nil {
			fmt.Println(errors.Is(err, registry.ErrMalformedID), "malformed")
			continue
		}
		fmt.Printf("%s, %s, issuer %s, namespace %q\n", id.Form, id.Kind, id.Issuer, id.Namespace)
		if d, ok := id.DIDIndy("sovrin"); ok && id.Form == registry.FormLegacy {
			fmt.Println("  as did:indy:", d)
		}
	}
	// Output:
	// legacy indy, credential definition, issuer WgWxqztrNooG92RXvxSTWv, namespace ""
	//   as did:indy: did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/CLAIM_DEF/20/revocable
	// did:indy, schema, issuer did:indy:sovrin:WgWxqztrNooG92RXvxSTWv, namespace "sovrin"
	// did url, object, issuer did:cheqd:testnet:d8ac0372-0d4b-413e-8ef5-8e8f07822b2c, namespace ""
	// true malformed
}

// A verifier's registry: pinned objects first, Indy ledgers through indy-vdr-proxy, other
// methods through a Universal Resolver, all behind a cache.
func ExampleNewRouter() {
	pinned, err := registry.LoadPinned("testdata/pinned/objects.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	// In the service, the HTTP sources take identity/outbound.New(cfg) as their client;
	// pinned objects need none.
	reg := registry.NewCache(registry.NewRouter(registry.Routes{Pinned: pinned}), registry.CacheConfig{})
	s, err := reg.Schema(context.Background(), "WpoQirzsNJK2MUZh3NtbF2:2:r-test6:0.0.6")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Name, s.Version, s.AttrNames)
	_, err = reg.Schema(context.Background(), "did:cheqd:testnet:d8ac0372-0d4b-413e-8ef5-8e8f07822b2c/resources/a0f6ede4-0ac6-4de9-a4b5-6a2d3d6a9d6b")
	fmt.Println(errors.Is(err, registry.ErrUnsupported))
	// Output:
	// r-test6 0.0.6 [c b a]
	// true
}
