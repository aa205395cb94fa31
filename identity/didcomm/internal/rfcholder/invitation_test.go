package rfcholder

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestParseInvitation(t *testing.T) {
	pub, _ := newKey(t)
	inv := `{"@id":"inv-1","@type":"https://didcomm.org/out-of-band/1.1/invitation","label":"Verifier",` +
		`"handshake_protocols":["https://didcomm.org/didexchange/1.0"],` +
		`"services":[{"id":"#inline","type":"did-communication","recipientKeys":["` + DIDKey(pub) + `"],"serviceEndpoint":"https://verifier.example/didcomm"}]}`
	for name, in := range map[string]string{
		"JSON":            inv,
		"URL (?oob=)":     "https://verifier.example/i?oob=" + base64.RawURLEncoding.EncodeToString([]byte(inv)),
		"legacy prefixes": strings.NewReplacer("https://didcomm.org/", "did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/").Replace(inv),
	} {
		got, err := ParseInvitation([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if got.ID != "inv-1" || got.Endpoint != "https://verifier.example/didcomm" || string(got.RecipientKey) != string(pub) {
			t.Errorf("%s: %+v", name, got)
		}
	}
	for name, in := range map[string]string{
		"no DID exchange":    strings.Replace(inv, "didexchange/1.0", "connections/1.0", 1),
		"public DID service": strings.Replace(inv, inv[strings.Index(inv, `"services":`):], `"services":["did:sov:abc"]}`, 1),
		"raw verkey":         strings.Replace(inv, DIDKey(pub), verkey(pub), 1),
		"not an invitation":  strings.Replace(inv, "out-of-band/1.1/invitation", "basicmessage/1.0/message", 1),
		"non-HTTP endpoint":  strings.Replace(inv, "https://verifier.example/didcomm", "ws://verifier.example", 1),
		"URL without oob":    "https://verifier.example/i?c_i=abc",
		"truncated JSON":     inv[:40],
	} {
		if _, err := ParseInvitation([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParseInvitation(f *testing.F) {
	pub, _ := newKey(f)
	f.Add([]byte(`{"@id":"i","@type":"https://didcomm.org/out-of-band/1.1/invitation","handshake_protocols":["https://didcomm.org/didexchange/1.0"],"services":[{"type":"did-communication","recipientKeys":["` + DIDKey(pub) + `"],"serviceEndpoint":"http://x"}]}`))
	f.Add([]byte(`https://x/?oob=e30`))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = ParseInvitation(b) })
}
