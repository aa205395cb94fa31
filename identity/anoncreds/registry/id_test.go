package registry

import (
	"errors"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	tests := []struct {
		name, in string
		want     ID
	}{
		{"legacy/schema", "WgWxqztrNooG92RXvxSTWv:2:hearro-id:1.0",
			ID{Form: FormLegacy, Kind: KindSchema, Issuer: "WgWxqztrNooG92RXvxSTWv", Nym: "WgWxqztrNooG92RXvxSTWv", Name: "hearro-id", Version: "1.0"}},
		{"legacy/cred def by seqNo", "WgWxqztrNooG92RXvxSTWv:3:CL:20:tag",
			ID{Form: FormLegacy, Kind: KindCredentialDefinition, Issuer: "WgWxqztrNooG92RXvxSTWv", Nym: "WgWxqztrNooG92RXvxSTWv", SchemaRef: "20", Tag: "tag"}},
		{"legacy/cred def by schema id", "WgWxqztrNooG92RXvxSTWv:3:CL:Th7MpTaRZVRYnPiabds81Y:2:degree:1.2:default",
			ID{Form: FormLegacy, Kind: KindCredentialDefinition, Issuer: "WgWxqztrNooG92RXvxSTWv", Nym: "WgWxqztrNooG92RXvxSTWv", SchemaRef: "Th7MpTaRZVRYnPiabds81Y:2:degree:1.2", Tag: "default"}},
		{"legacy/rev reg", "WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:20:tag:CL_ACCUM:0",
			ID{Form: FormLegacy, Kind: KindRevocationRegistryDefinition, Issuer: "WgWxqztrNooG92RXvxSTWv", Nym: "WgWxqztrNooG92RXvxSTWv", SchemaRef: "20", Tag: "tag", RevTag: "0"}},
		{"did:indy/schema", "did:indy:sovrin:staging:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/hearro%20id/1.0",
			ID{Form: FormDIDIndy, Kind: KindSchema, Issuer: "did:indy:sovrin:staging:WgWxqztrNooG92RXvxSTWv", Method: "indy", Namespace: "sovrin:staging", Nym: "WgWxqztrNooG92RXvxSTWv", Name: "hearro id", Version: "1.0"}},
		{"did:indy/claim def", "did:indy:idunion:Dk1fRRTtNazyMuK2cr64wp/anoncreds/v0/CLAIM_DEF/104/revocable",
			ID{Form: FormDIDIndy, Kind: KindCredentialDefinition, Issuer: "did:indy:idunion:Dk1fRRTtNazyMuK2cr64wp", Method: "indy", Namespace: "idunion", Nym: "Dk1fRRTtNazyMuK2cr64wp", SchemaRef: "104", Tag: "revocable"}},
		{"did:indy/rev reg def", "did:indy:idunion:Dk1fRRTtNazyMuK2cr64wp/anoncreds/v0/REV_REG_DEF/104/revocable/a4e25e54",
			ID{Form: FormDIDIndy, Kind: KindRevocationRegistryDefinition, Issuer: "did:indy:idunion:Dk1fRRTtNazyMuK2cr64wp", Method: "indy", Namespace: "idunion", Nym: "Dk1fRRTtNazyMuK2cr64wp", SchemaRef: "104", Tag: "revocable", RevTag: "a4e25e54"}},
		{"did url/cheqd resource", "did:cheqd:testnet:d8ac0372-0d4b-413e-8ef5-8e8f07822b2c/resources/a0f6ede4-0ac6-4de9-a4b5-6a2d3d6a9d6b",
			ID{Form: FormDIDURL, Kind: KindUnknown, Issuer: "did:cheqd:testnet:d8ac0372-0d4b-413e-8ef5-8e8f07822b2c", Method: "cheqd", Path: "/resources/a0f6ede4-0ac6-4de9-a4b5-6a2d3d6a9d6b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseID(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			tt.want.raw = tt.in
			if got != tt.want {
				t.Fatalf("ParseID(%q)\n got %+v\nwant %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseIDRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":                       "",
		"too long":                    "did:web:example.com/" + strings.Repeat("a", MaxIDLength),
		"plain DID":                   "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv",
		"query":                       "did:cheqd:testnet:abc/resources/x?resourceVersionTime=2020-01-01T00:00:00Z",
		"fragment":                    "did:example:abc/path#frag",
		"legacy/short nym":            "abc:2:name:1.0",
		"legacy/non-base58 nym":       "WgWxqztrNooG92RXvxSTW0:2:name:1.0",
		"legacy/schema extra part":    "WgWxqztrNooG92RXvxSTWv:2:name:1.0:x",
		"legacy/cred def not CL":      "WgWxqztrNooG92RXvxSTWv:3:BBS:20:tag",
		"legacy/cred def seq zero":    "WgWxqztrNooG92RXvxSTWv:3:CL:0:tag",
		"legacy/cred def seq leading": "WgWxqztrNooG92RXvxSTWv:3:CL:020:tag",
		"legacy/rev reg other issuer": "WgWxqztrNooG92RXvxSTWv:4:Th7MpTaRZVRYnPiabds81Y:3:CL:20:tag:CL_ACCUM:0",
		"legacy/rev reg no CL_ACCUM":  "WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:20:tag:XX:0",
		"legacy/marker 5":             "WgWxqztrNooG92RXvxSTWv:5:a:b",
		"legacy/control char":         "WgWxqztrNooG92RXvxSTWv:2:na\x01me:1.0",
		"did:indy/no namespace":       "did:indy:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a/1",
		"did:indy/upper namespace":    "did:indy:Sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a/1",
		"did:indy/3-part namespace":   "did:indy:a:b:c:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a/1",
		"did:indy/unknown type":       "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/REV_REG_ENTRY/1/a/b",
		"did:indy/not anoncreds":      "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/other/v0/SCHEMA/a/1",
		"did:indy/seq not number":     "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/CLAIM_DEF/x/tag",
		"did:indy/bad escape":         "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a%2/1",
		"did:indy/escaped NUL":        "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a%00/1",
		"did url/space":               "did:example:abc/a b",
		"did url/upper method":        "did:Example:abc/a",
		"not UTF-8":                   "did:example:abc/\xff",
	} {
		t.Run(name, func(t *testing.T) {
			if id, err := ParseID(in); !errors.Is(err, ErrMalformedID) {
				t.Fatalf("ParseID(%q) = %+v, %v; want ErrMalformedID", in, id, err)
			}
		})
	}
}

func TestIDForms(t *testing.T) {
	for legacy, indy := range map[string]string{
		"WgWxqztrNooG92RXvxSTWv:2:hearro id:1.0":                                 "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/hearro%20id/1.0",
		"WgWxqztrNooG92RXvxSTWv:3:CL:20:tag":                                     "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/CLAIM_DEF/20/tag",
		"WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:20:tag:CL_ACCUM:0": "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/REV_REG_DEF/20/tag/0",
	} {
		l, err := ParseID(legacy)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := l.DIDIndy("sovrin"); !ok || got != indy {
			t.Errorf("%s.DIDIndy = %q, %v; want %q", legacy, got, ok, indy)
		}
		d, err := ParseID(indy)
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := d.Legacy(); !ok || got != legacy {
			t.Errorf("%s.Legacy = %q, %v; want %q", indy, got, ok, legacy)
		}
	}
	r, _ := ParseID("did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/REV_REG_DEF/20/tag/0")
	if cd, ok := r.CredDefID(); !ok || cd != "did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/CLAIM_DEF/20/tag" {
		t.Errorf("CredDefID = %q", cd)
	}
	byID, _ := ParseID("WgWxqztrNooG92RXvxSTWv:3:CL:Th7MpTaRZVRYnPiabds81Y:2:degree:1.2:default")
	if s, ok := byID.DIDIndy("sovrin"); ok {
		t.Errorf("a credential definition naming its schema by id has no did:indy form, got %q", s)
	}
	colon, _ := ParseID("did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a:b/1.0")
	if s, ok := colon.Legacy(); ok {
		t.Errorf("a name with ':' has no legacy form, got %q", s)
	}
}
