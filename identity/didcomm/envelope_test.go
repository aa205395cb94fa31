package didcomm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hyperledger/aries-framework-go/component/storageutil/mem"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock/local"
	"github.com/mr-tron/base58"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/didcomm/internal/rfcholder"
)

// testOpener returns the envelope opener of a running agent and the verkey of one of the
// agent's keys (an invitation's).
func testOpener(t testing.TB) (*envelopeOpener, ed25519.PublicKey) {
	t.Helper()
	lock, err := local.NewService(strings.NewReader(base64.URLEncoding.EncodeToString(make([]byte, 32))), nil)
	if err != nil {
		t.Fatal(err)
	}
	loader, err := identity.NewContextLoader()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Endpoint: "http://127.0.0.1:1/didcomm", Storage: mem.NewProvider(), SecretLock: lock, Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	inv, err := a.CreateInvitation(context.Background(), "test", "")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := rfcholder.ParseInvitation(inv.JSON)
	if err != nil {
		t.Fatal(err)
	}
	return a.inbound.opener, parsed.RecipientKey
}

func TestEnvelopeOpener(t *testing.T) {
	opener, agentKey := testOpener(t)
	walletPub, walletKey, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte(`{"@id":"1","@type":"https://didcomm.org/trust_ping/1.0/ping"}`)
	pack := func(sender ed25519.PrivateKey, to ed25519.PublicKey, padded bool) []byte {
		env, err := rfcholder.Pack(msg, sender, []ed25519.PublicKey{to}, rfcholder.PackOptions{Padded: padded})
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
	for _, tc := range []struct {
		name   string
		env    []byte
		sender []byte
	}{
		{"authcrypt, unpadded base64url (ACA-Py, Credo)", pack(walletKey, agentKey, false), walletPub},
		{"authcrypt, padded base64url (indy-sdk, aries-framework-go)", pack(walletKey, agentKey, true), walletPub},
		{"anoncrypt", pack(nil, agentKey, false), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, handled, err := opener.open(tc.env)
			if !handled || err != nil {
				t.Fatalf("handled %v, %v", handled, err)
			}
			if !bytes.Equal(env.Message, msg) || !bytes.Equal(env.FromKey, tc.sender) || !bytes.Equal(env.ToKey, agentKey) {
				t.Errorf("opened %s from %x to %x", env.Message, env.FromKey, env.ToKey)
			}
		})
	}

	good := pack(walletKey, agentKey, false)
	withIV := func(n int) []byte {
		var e map[string]any
		_ = json.Unmarshal(good, &e)
		e["iv"] = base64.RawURLEncoding.EncodeToString(make([]byte, n))
		b, _ := json.Marshal(e)
		return b
	}
	for _, tc := range []struct {
		name    string
		env     []byte
		handled bool
	}{
		{"addressed to another key", pack(walletKey, walletPub, false), true},
		{"24-byte iv: an error, not a panic as in the library's packer", withIV(24), true},
		{"5-byte iv", withIV(5), true},
		{"tampered ciphertext", bytes.Replace(good, []byte(`"ciphertext":"`), []byte(`"ciphertext":"AA`), 1), true},
		{"DIDComm v2 JWE: left to the library", []byte(`{"protected":"` + base64.RawURLEncoding.EncodeToString([]byte(`{"typ":"application/didcomm-encrypted+json"}`)) + `"}`), false},
		{"not JSON: left to the library", []byte(`eyJhbGciOi`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, handled, err := opener.open(tc.env)
			if handled != tc.handled || (handled && err == nil) {
				t.Errorf("handled %v (want %v), err %v", handled, tc.handled, err)
			}
		})
	}
}

func FuzzEnvelopeOpen(f *testing.F) {
	opener, agentKey := testOpener(f)
	_, walletKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, padded := range []bool{false, true} {
		for _, sender := range []ed25519.PrivateKey{walletKey, nil} {
			env, err := rfcholder.Pack([]byte(`{"@id":"1","@type":"t"}`), sender, []ed25519.PublicKey{agentKey}, rfcholder.PackOptions{Padded: padded})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(env)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, handled, err := opener.open(raw)
		if handled && err == nil && env == nil {
			t.Error("no error and no envelope")
		}
	})
}

func TestDIDKeyRecipients(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	b58 := base58.Encode(pub)
	didKey := didKeyOf(pub)
	multibase := "z" + base58.Encode(append([]byte{0xed, 0x01}, pub...))
	for _, tc := range []struct {
		name, doc string
		changed   bool
	}{
		{"Credo did:peer:1: relative reference to a key embedded in authentication",
			`{"@context":["https://w3id.org/did/v1"],"id":"did:peer:1zQmX","service":[{"id":"#inline-0","serviceEndpoint":"http://w/","type":"did-communication","priority":0,"recipientKeys":["#key-1"],"routingKeys":[]}],` +
				`"authentication":[{"id":"#key-1","type":"Ed25519VerificationKey2018","controller":"#id","publicKeyBase58":"` + b58 + `"}],` +
				`"keyAgreement":[{"id":"#key-2","type":"X25519KeyAgreementKey2019","controller":"#id","publicKeyBase58":"x"}]}`, true},
		{"absolute reference to verificationMethod (2020 key)",
			`{"id":"did:peer:1zQmX","verificationMethod":[{"id":"did:peer:1zQmX#k","type":"Ed25519VerificationKey2020","publicKeyMultibase":"` + multibase + `"}],"service":[{"type":"did-communication","recipientKeys":["did:peer:1zQmX#k"],"serviceEndpoint":"http://w/"}]}`, true},
		{"raw base58 verkey",
			`{"id":"did:peer:1zQmX","service":[{"type":"IndyAgent","recipientKeys":["` + b58 + `"],"serviceEndpoint":"http://w/"}]}`, true},
		{"did:key already", `{"id":"d","service":[{"type":"did-communication","recipientKeys":["` + didKey + `"],"serviceEndpoint":"http://w/"}]}`, false},
		{"dangling reference left alone", `{"id":"d","service":[{"type":"did-communication","recipientKeys":["#nope"],"serviceEndpoint":"http://w/"}]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := didKeyRecipients([]byte(tc.doc))
			if err != nil || changed != tc.changed {
				t.Fatalf("changed %v (want %v), %v", changed, tc.changed, err)
			}
			if changed && !strings.Contains(string(out), `"recipientKeys":["`+didKey+`"]`) {
				t.Errorf("rewritten: %s", out)
			}
		})
	}
}

func TestNormalizeDocAttachment(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	credo := []byte(`{"id":"did:peer:1zQmX","service":[{"type":"did-communication","recipientKeys":["#key-1"],"serviceEndpoint":"http://w/"}],` +
		`"authentication":[{"id":"#key-1","type":"Ed25519VerificationKey2018","publicKeyBase58":"` + base58.Encode(pub) + `"}]}`)
	plain := []byte(`{"id":"d","service":[{"type":"did-communication","recipientKeys":["` + didKeyOf(pub) + `"],"serviceEndpoint":"http://w/"}]}`)
	request := func(data map[string]interface{}) map[string]interface{} {
		return map[string]interface{}{"@type": "https://didcomm.org/didexchange/1.0/request", "did_doc~attach": map[string]interface{}{"data": data}}
	}
	dataOf := func(m map[string]interface{}) map[string]interface{} {
		return m["did_doc~attach"].(map[string]interface{})["data"].(map[string]interface{})
	}

	m := request(map[string]interface{}{"base64": base64.StdEncoding.EncodeToString(credo), "jws": map[string]interface{}{"signature": "x"}})
	normalizeDocAttachment(m)
	d := dataOf(m)
	doc, err := base64.StdEncoding.DecodeString(d["base64"].(string))
	if err != nil || !strings.Contains(string(doc), didKeyOf(pub)) || d["jws"] != nil {
		t.Errorf("Credo document: %s, jws %v, %v", doc, d["jws"], err)
	}

	m = request(map[string]interface{}{"base64": base64.RawURLEncoding.EncodeToString(plain), "jws": "kept"})
	normalizeDocAttachment(m)
	d = dataOf(m)
	if d["base64"] != base64.StdEncoding.EncodeToString(plain) || d["jws"] != "kept" {
		t.Errorf("base64url document: %v", d)
	}

	for _, junk := range []map[string]interface{}{
		{"@type": "x"}, {"did_doc~attach": "x"}, {"did_doc~attach": map[string]interface{}{"data": 1}},
		request(map[string]interface{}{"base64": "!!!"}), request(map[string]interface{}{"base64": 7}),
	} {
		normalizeDocAttachment(junk) // must not panic
	}
}

func FuzzDIDKeyRecipients(f *testing.F) {
	f.Add([]byte(`{"id":"d","service":[{"type":"did-communication","recipientKeys":["#k",1,null]}],"authentication":[{"id":"#k","type":"Ed25519VerificationKey2018","publicKeyBase58":"1"}]}`))
	f.Add([]byte(`{"service":[1,{"type":"IndyAgent","routingKeys":"x"}],"verificationMethod":{}}`))
	f.Fuzz(func(t *testing.T, doc []byte) { _, _, _ = didKeyRecipients(doc) })
}
