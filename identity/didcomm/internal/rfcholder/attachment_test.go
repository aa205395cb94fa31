package rfcholder

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestSignedAttachment(t *testing.T) {
	pub, priv := newKey(t)
	other, _ := newKey(t)
	data := []byte(`{"id":"did:peer:1zQm"}`)
	att, err := SignedAttachment("a1", "application/json", data, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifyAttachment(att, pub)
	if err != nil || string(got) != string(data) {
		t.Fatalf("verify: %s, %v", got, err)
	}
	// The JWS form RFC 0017 shows: kid in the header, alg EdDSA and the jwk protected.
	var jws struct {
		Header    struct{ KID string }
		Protected string
	}
	_ = json.Unmarshal(att.Data.JWS, &jws)
	ph, _ := decodeB64URL(jws.Protected)
	if jws.Header.KID != DIDKey(pub) || !strings.Contains(string(ph), `"alg":"EdDSA"`) || !strings.Contains(string(ph), `"jwk"`) {
		t.Errorf("jws %s, protected %s", att.Data.JWS, ph)
	}

	general := att
	general.Data.JWS, _ = json.Marshal(map[string]any{"signatures": []json.RawMessage{att.Data.JWS}})
	urlsafe := att
	urlsafe.Data.Base64 = base64.RawURLEncoding.EncodeToString(data)
	for name, a := range map[string]Attachment{"general JWS serialization": general, "base64url data": urlsafe} {
		if _, err := VerifyAttachment(a, pub); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	tampered := att
	tampered.Data.Base64 = base64.StdEncoding.EncodeToString([]byte(`{"id":"did:peer:1zQn"}`))
	badAlg := att
	badAlg.Data.JWS = []byte(strings.Replace(string(att.Data.JWS), jws.Protected, base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+DIDKey(pub)+`"}`)), 1))
	jsonOnly := Attachment{Data: AttachmentData{JSON: data, JWS: att.Data.JWS}}
	for name, c := range map[string]struct {
		att Attachment
		key []byte
	}{
		"tampered data":        {tampered, pub},
		"another key expected": {att, other},
		"no jws":               {Attachment{Data: AttachmentData{Base64: att.Data.Base64}}, pub},
		"alg none":             {badAlg, pub},
		"json data":            {jsonOnly, pub},
	} {
		if _, err := VerifyAttachment(c.att, c.key); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func FuzzVerifyAttachment(f *testing.F) {
	pub, priv := newKey(f)
	att, _ := SignedAttachment("a", "application/json", []byte(`{}`), priv)
	seed, _ := json.Marshal(att)
	f.Add(seed)
	f.Add([]byte(`{"data":{"base64":"e30","jws":{"signatures":[{}]}}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var a Attachment
		if json.Unmarshal(raw, &a) != nil {
			return
		}
		_, _ = VerifyAttachment(a, pub)
	})
}
