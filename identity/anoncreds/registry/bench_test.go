package registry

import (
	"context"
	"testing"
)

// BenchmarkCacheHit is a lookup the cache answers.
func BenchmarkCacheHit(b *testing.B) {
	f, _ := ledgerWithVectors(b)
	c := NewCache(newProxy(b, f.serve(b), HTTPOptions{}), CacheConfig{})
	ctx := context.Background()
	if _, err := c.CredentialDefinition(ctx, sovCredDefID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CredentialDefinition(ctx, sovCredDefID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPinnedLookup is a lookup in a pinned file through the router (the id is
// parsed to route it).
func BenchmarkPinnedLookup(b *testing.B) {
	p, err := LoadPinned("testdata/pinned/objects.yaml")
	if err != nil {
		b.Fatal(err)
	}
	r := NewRouter(Routes{Pinned: p})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.CredentialDefinition(ctx, sovCredDefID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxyLookup is an uncached credential definition read through indy-vdr-proxy
// on loopback: request, reply parsing and key checks.
func BenchmarkProxyLookup(b *testing.B) {
	f, _ := ledgerWithVectors(b)
	p := newProxy(b, f.serve(b), HTTPOptions{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.CredentialDefinition(ctx, sovCredDefID); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseID(b *testing.B) {
	for _, bc := range []struct{ name, id string }{
		{"legacy", "WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:20:revocable:CL_ACCUM:0"},
		{"did:indy", "did:indy:sovrin:staging:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/REV_REG_DEF/20/revocable/0"},
		{"did url", cheqdCredDef},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseID(bc.id); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
