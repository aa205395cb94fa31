package registry

import (
	"strings"
	"testing"
)

// FuzzParseID checks that ParseID never panics, keeps the input exactly, parses its own
// output to the same ID, and that the legacy and did:indy forms of an Indy id convert to
// each other without losing anything.
func FuzzParseID(f *testing.F) {
	for _, s := range []string{
		"WgWxqztrNooG92RXvxSTWv:2:hearro-id:1.0",
		"WgWxqztrNooG92RXvxSTWv:3:CL:20:tag",
		"WgWxqztrNooG92RXvxSTWv:3:CL:Th7MpTaRZVRYnPiabds81Y:2:degree:1.2:default",
		"WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:20:tag:CL_ACCUM:0",
		"WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:Th7MpTaRZVRYnPiabds81Y:2:degree:1.2:default:CL_ACCUM:1",
		"did:indy:sovrin:staging:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/hearro%20id/1.0",
		"did:indy:idunion:Dk1fRRTtNazyMuK2cr64wp/anoncreds/v0/CLAIM_DEF/104/revocable",
		"did:indy:idunion:Dk1fRRTtNazyMuK2cr64wp/anoncreds/v0/REV_REG_DEF/104/revocable/a4e25e54",
		"did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a%3Ab%2Fc/1.0",
		"did:cheqd:testnet:d8ac0372-0d4b-413e-8ef5-8e8f07822b2c/resources/a0f6ede4-0ac6-4de9-a4b5-6a2d3d6a9d6b",
		"did:webvh:QmHash:example.com/resources/zQm",
		"did:indy:sovrin:WgWxqztrNooG92RXvxSTWv/anoncreds/v0/SCHEMA/a%/1",
		"did:x:y/%zz",
		":2::",
		"did:",
		strings.Repeat("9", 300),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		if id.String() != s || len(s) > MaxIDLength {
			t.Fatalf("ParseID(%q).String() = %q", s, id.String())
		}
		again, err := ParseID(id.String())
		if err != nil || again != id {
			t.Fatalf("reparse of %q: %+v, %v; want %+v", s, again, err, id)
		}
		if id.Form == FormDIDURL {
			if id.Kind != KindUnknown || !strings.HasPrefix(s, id.Issuer+"/") || id.Issuer+id.Path != s {
				t.Fatalf("DID URL %q parsed as %+v", s, id)
			}
			return
		}
		if id.Kind == KindUnknown || id.Nym == "" {
			t.Fatalf("Indy id %q parsed as %+v", s, id)
		}
		same := func(a, b ID) bool {
			return a.Kind == b.Kind && a.Nym == b.Nym && a.Name == b.Name && a.Version == b.Version &&
				a.SchemaRef == b.SchemaRef && a.Tag == b.Tag && a.RevTag == b.RevTag
		}
		if l, ok := id.Legacy(); ok {
			lid, err := ParseID(l)
			if err != nil || lid.Form != FormLegacy || !same(lid, id) {
				t.Fatalf("Legacy of %q = %q: %+v, %v", s, l, lid, err)
			}
		}
		if d, ok := id.DIDIndy("sovrin:test"); ok {
			did, err := ParseID(d)
			if err != nil || did.Form != FormDIDIndy || did.Namespace != "sovrin:test" || !same(did, id) {
				t.Fatalf("DIDIndy of %q = %q: %+v, %v", s, d, did, err)
			}
		}
		if cd, ok := id.CredDefID(); ok {
			cid, err := ParseID(cd)
			if err != nil || cid.Kind != KindCredentialDefinition || cid.Nym != id.Nym || cid.SchemaRef != id.SchemaRef || cid.Tag != id.Tag {
				t.Fatalf("CredDefID of %q = %q: %+v, %v", s, cd, cid, err)
			}
		}
	})
}

// FuzzSourceAnswer feeds arbitrary bytes to every reader of what a source answers (ledger
// replies, Universal Resolver results, pinned files): none may panic, and whatever is
// accepted is the object asked for.
func FuzzSourceAnswer(f *testing.F) {
	for _, path := range []string{"testdata/indy/get_schema_reply.json", "testdata/indy/get_cred_def_reply.json", "testdata/pinned/objects.json"} {
		f.Add(readFile(f, path))
	}
	ledger, rr := ledgerWithVectors(f)
	f.Add(ledger.revRegs[rr])
	f.Add(ledger.delta(rr, ledger.now))
	f.Add(dereferencingResult(map[string]any{"name": "r-test6", "version": "0.0.6", "attrNames": []string{"a"}}))
	f.Add([]byte(`{"op":"REPLY","result":{"type":"107","data":"{\"name\":\"r-test6\"}","seqNo":1}}`))
	f.Add([]byte(`{"dereferencingMetadata":{"error":"notFound"}}`))
	schemaID, _ := ParseID(sovSchemaID)
	credDefID, _ := ParseID(sovCredDefID)
	revRegID, _ := ParseID(rr)
	def, err := revRegDefFromLedger(revRegID, ledger.revRegs[rr])
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := schemaFromLedger(schemaID, b); err == nil && (s.ID != sovSchemaID || s.Name != "r-test6") {
			t.Fatalf("accepted schema %+v", s)
		}
		if d, err := credDefFromLedger(credDefID, b); err == nil && (d.ID != sovCredDefID || d.Tag != "latest") {
			t.Fatalf("accepted credential definition %+v", d)
		}
		if d, err := revRegDefFromLedger(revRegID, b); err == nil && d.ID != rr {
			t.Fatalf("accepted registry %+v", d)
		}
		if l, err := statusListFromLedger(revRegID, 1733300450, b, def); err == nil && (l.Timestamp > 1733300450 || len(l.RevocationList) != int(def.Value.MaxCredNum)) {
			t.Fatalf("accepted list %+v", l)
		}
		if d, err := readDereferencing(schemaID, "schema", b); err == nil && d.nodeResponse == nil && d.content == nil {
			t.Fatal("dereferenced to nothing")
		}
		_, _ = ParsePinned(b)
	})
}
