package rfcholder

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mr-tron/base58"
)

func TestPeerDIDIsNumalgo1OfItsGenesisDocument(t *testing.T) {
	pub, _ := newKey(t)
	did, doc, err := newPeerDID(pub, "http://127.0.0.1:1/")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(did, "did:peer:1zQm") {
		t.Fatalf("did %s", did)
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil || m["id"] != did {
		t.Fatalf("document %s", doc)
	}
	// Recompute: sha2-256 multihash of the document without its id.
	var d peerDoc
	_ = json.Unmarshal(doc, &d)
	d.ID = ""
	genesis, _ := json.Marshal(d)
	sum := sha256.Sum256(genesis)
	if want := "did:peer:1z" + base58.Encode(append([]byte{0x12, 0x20}, sum[:]...)); did != want {
		t.Errorf("did %s, want %s", did, want)
	}
	id, svc, err := ParseDIDCommService(doc)
	if err != nil || id != did || svc.Endpoint != "http://127.0.0.1:1/" || string(svc.RecipientKey) != string(pub) {
		t.Errorf("parsed %s %+v %v", id, svc, err)
	}
}

func TestParseDIDCommService(t *testing.T) {
	pub, _ := newKey(t)
	b58 := base58.Encode(pub)
	for _, tc := range []struct {
		name, doc string
		ok        bool
	}{
		{"did:key recipient (aries-framework-go)", `{"id":"did:peer:1zX","service":[{"type":"did-communication","recipientKeys":["` + DIDKey(pub) + `"],"serviceEndpoint":"http://x/"}]}`, true},
		{"absolute reference to verificationMethod", `{"id":"did:peer:1zX","verificationMethod":[{"id":"did:peer:1zX#k","type":"Ed25519VerificationKey2018","publicKeyBase58":"` + b58 + `"}],"service":[{"type":"did-communication","recipientKeys":["did:peer:1zX#k"],"serviceEndpoint":"http://x/"}]}`, true},
		{"raw verkey (IndyAgent)", `{"id":"did:sov:X","service":[{"type":"IndyAgent","recipientKeys":["` + b58 + `"],"serviceEndpoint":"http://x/"}]}`, true},
		{"DIDComm v2 style endpoint object", `{"id":"d","service":[{"type":["did-communication"],"recipientKeys":["` + DIDKey(pub) + `"],"serviceEndpoint":{"uri":"http://x/"}}]}`, true},
		{"dangling reference", `{"id":"d","service":[{"type":"did-communication","recipientKeys":["#nope"],"serviceEndpoint":"http://x/"}]}`, false},
		{"routing keys", `{"id":"d","service":[{"type":"did-communication","recipientKeys":["` + DIDKey(pub) + `"],"routingKeys":["` + DIDKey(pub) + `"],"serviceEndpoint":"http://x/"}]}`, false},
		{"no service", `{"id":"d"}`, false},
		{"not JSON", `{`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, svc, err := ParseDIDCommService([]byte(tc.doc))
			if tc.ok && (err != nil || svc.Endpoint != "http://x/" || string(svc.RecipientKey) != string(pub)) {
				t.Errorf("got %+v, %v", svc, err)
			}
			if !tc.ok && err == nil {
				t.Error("accepted")
			}
		})
	}
}

func FuzzParseDIDCommService(f *testing.F) {
	pub, _ := newKey(f)
	_, doc, _ := newPeerDID(pub, "http://x/")
	f.Add(doc)
	f.Add([]byte(`{"service":[{"type":"did-communication","recipientKeys":["#a"],"serviceEndpoint":{}}],"authentication":[1,"x",{}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) { _, _, _ = ParseDIDCommService(doc) })
}
