package rfcholder

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/crypto/curve25519"
)

type keyring map[string]ed25519.PrivateKey

func (k keyring) lookup(vk string) (ed25519.PrivateKey, bool) { p, ok := k[vk]; return p, ok }

func newKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestX25519ConversionMatchesTheKeyPair(t *testing.T) {
	for i := 0; i < 32; i++ {
		pub, priv := newKey(t)
		fromPub, err := x25519Public(pub)
		if err != nil {
			t.Fatal(err)
		}
		fromPriv, err := curve25519.X25519(x25519Private(priv)[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fromPub[:], fromPriv) {
			t.Fatalf("converted public key %x, key pair's X25519 public key %x", fromPub, fromPriv)
		}
	}
}

func TestX25519ConversionRefusesNonPoints(t *testing.T) {
	identity := make([]byte, 32)
	identity[0] = 1 // y = 1, x = 0
	nonCanonical := bytes.Repeat([]byte{0xff}, 32)
	nonCanonical[31] = 0x7f // y = 2^255 - 1 ≥ p
	notOnCurve := make([]byte, 32)
	notOnCurve[0] = 2 // y = 2: (y²-1)/(d·y²+1) is not a square
	for name, k := range map[string][]byte{
		"identity": identity, "non-canonical y": nonCanonical, "y=2, not on the curve": notOnCurve, "short": make([]byte, 31),
	} {
		if _, err := x25519Public(k); err == nil {
			t.Errorf("%s: converted", name)
		}
	}
}

func TestPackUnpack(t *testing.T) {
	alicePub, alicePriv := newKey(t)
	bobPub, bobPriv := newKey(t)
	carolPub, carolPriv := newKey(t)
	msg := []byte(`{"@id":"1","@type":"https://didcomm.org/basicmessage/1.0/message","content":"hi"}`)
	for _, tc := range []struct {
		name   string
		sender ed25519.PrivateKey
		opt    PackOptions
		alg    string
	}{
		{"authcrypt, unpadded", alicePriv, PackOptions{}, algAuthcrypt},
		{"authcrypt, padded", alicePriv, PackOptions{Padded: true}, algAuthcrypt},
		{"anoncrypt", nil, PackOptions{}, algAnoncrypt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Pack(msg, tc.sender, []ed25519.PublicKey{bobPub, carolPub}, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if tc.opt.Padded != strings.Contains(string(env), "=") {
				t.Errorf("padding: %s", env)
			}
			var e envelope
			_ = json.Unmarshal(env, &e)
			hb, _ := decodeB64URL(e.Protected)
			var h protectedHeader
			_ = json.Unmarshal(hb, &h)
			if h.Enc != EncRFC0019 || h.Typ != "JWM/1.0" || h.Alg != tc.alg || len(h.Recipients) != 2 || h.Recipients[0].Header.KID != verkey(bobPub) {
				t.Errorf("protected header %s", hb)
			}
			iv, _ := decodeB64URL(e.IV)
			if len(iv) != 12 {
				t.Errorf("iv is %d bytes, want 12 (IETF ChaCha20-Poly1305)", len(iv))
			}
			for _, who := range []keyring{{verkey(bobPub): bobPriv}, {verkey(carolPub): carolPriv}} {
				un, err := Unpack(env, who.lookup)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(un.Message, msg) || un.Alg != tc.alg {
					t.Errorf("unpacked %s (%s)", un.Message, un.Alg)
				}
				if tc.sender != nil && !bytes.Equal(un.SenderKey, alicePub) {
					t.Errorf("sender %x, want %x", un.SenderKey, alicePub)
				}
				if tc.sender == nil && un.SenderKey != nil {
					t.Errorf("anoncrypt revealed a sender")
				}
			}
			if _, err := Unpack(env, keyring{verkey(alicePub): alicePriv}.lookup); err == nil {
				t.Error("unpacked by a key it was not packed for")
			}
		})
	}
}

func TestUnpackRefusesTampering(t *testing.T) {
	_, alicePriv := newKey(t)
	bobPub, bobPriv := newKey(t)
	keys := keyring{verkey(bobPub): bobPriv}.lookup
	env, err := Pack([]byte(`{"@id":"1","@type":"t"}`), alicePriv, []ed25519.PublicKey{bobPub}, PackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var e map[string]string
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	flip := func(field string) []byte {
		c := map[string]string{}
		for k, v := range e {
			c[k] = v
		}
		b, _ := decodeB64URL(c[field])
		b[len(b)/2] ^= 1
		c[field] = base64.RawURLEncoding.EncodeToString(b)
		out, _ := json.Marshal(c)
		return out
	}
	for _, field := range []string{"protected", "iv", "ciphertext", "tag"} {
		if _, err := Unpack(flip(field), keys); err == nil {
			t.Errorf("a flipped bit in %s went unnoticed", field)
		}
	}
	// A 24-byte iv (XChaCha20-Poly1305) is read, not a panic; a 5-byte one is refused.
	for _, n := range []int{24, 5} {
		c := map[string]string{}
		for k, v := range e {
			c[k] = v
		}
		c["iv"] = base64.RawURLEncoding.EncodeToString(make([]byte, n))
		out, _ := json.Marshal(c)
		if _, err := Unpack(out, keys); err == nil {
			t.Errorf("%d-byte iv: unpacked a message encrypted under another iv", n)
		}
	}
}

func FuzzUnpack(f *testing.F) {
	_, alicePriv := newKey(f)
	bobPub, bobPriv := newKey(f)
	keys := keyring{verkey(bobPub): bobPriv}.lookup
	for _, opt := range []PackOptions{{}, {Padded: true}} {
		for _, sender := range []ed25519.PrivateKey{alicePriv, nil} {
			env, err := Pack([]byte(`{"@id":"1","@type":"t"}`), sender, []ed25519.PublicKey{bobPub}, opt)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(env)
		}
	}
	f.Add([]byte(`{"protected":"e30","iv":"","ciphertext":"","tag":""}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, env []byte) {
		un, err := Unpack(env, keys)
		if err == nil && un.Message == nil {
			t.Error("no error and no message")
		}
	})
}
