package rfcholder

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/nacl/box"
)

// RFC 0019 encryption envelope, as the RFC writes it and ACA-Py and Credo implement it:
//
//	protected = base64url({"enc":"xchacha20poly1305_ietf","typ":"JWM/1.0","alg":"Authcrypt",
//	             "recipients":[{"encrypted_key": base64url(crypto_box(cek, cek_iv, their_x, my_x)),
//	                            "header":{"kid": base58(recipient verkey),
//	                                      "sender": base64url(crypto_box_seal(their_x, base58(sender verkey))),
//	                                      "iv": base64url(cek_iv)}}]})
//	ciphertext, tag = crypto_aead_chacha20poly1305_ietf_encrypt_detached(message, aad=protected, iv, cek)
//
// Anoncrypt has encrypted_key = crypto_box_seal(their_x, cek) and no sender or iv.
//
// Two points the RFC's prose leaves open, settled the way deployed wallets settle them:
//   - The content cipher is the IETF ChaCha20-Poly1305 with a 12-byte iv (the RFC's algorithm
//     steps and its example iv), although "enc" says xchacha20poly1305_ietf: indy-sdk, ACA-Py
//     and Credo all do this. Unpack also accepts a 24-byte iv (XChaCha20-Poly1305), for
//     implementations that took the "enc" name literally.
//   - base64url is written without padding, as RFC 7515 (which JWE and so RFC 0019 build on)
//     defines it and as ACA-Py and Credo write it; indy-sdk padded, so Unpack accepts both and
//     Pack pads on request.

const (
	envelopeTyp  = "JWM/1.0"
	algAuthcrypt = "Authcrypt"
	algAnoncrypt = "Anoncrypt"
	// EncRFC0019 is the "enc" RFC 0019 specifies and this holder writes.
	EncRFC0019 = "xchacha20poly1305_ietf"
	// EncAFG is the "enc" aries-framework-go writes for the same cipher. Unpack accepts it, as
	// ACA-Py and Credo do (neither checks "enc").
	EncAFG = "chacha20poly1305_ietf"
)

type envelope struct {
	Protected  string `json:"protected"`
	IV         string `json:"iv"`
	Ciphertext string `json:"ciphertext"`
	Tag        string `json:"tag"`
}

type protectedHeader struct {
	Enc        string      `json:"enc"`
	Typ        string      `json:"typ"`
	Alg        string      `json:"alg"`
	Recipients []recipient `json:"recipients"`
}

type recipient struct {
	EncryptedKey string          `json:"encrypted_key"`
	Header       recipientHeader `json:"header"`
}

type recipientHeader struct {
	KID    string `json:"kid"`
	Sender string `json:"sender,omitempty"`
	IV     string `json:"iv,omitempty"`
}

// PackOptions tune Pack.
type PackOptions struct {
	// Padded writes base64url with '=' padding, as indy-sdk did. The default is unpadded.
	Padded bool
}

// Pack encrypts message for the recipients' Ed25519 verkeys. With a sender key it is
// authcrypt (the recipients learn the sender's verkey); with nil, anoncrypt.
func Pack(message []byte, sender ed25519.PrivateKey, recipients []ed25519.PublicKey, opt PackOptions) ([]byte, error) {
	if len(recipients) == 0 {
		return nil, errors.New("pack: no recipients")
	}
	enc := base64.RawURLEncoding
	if opt.Padded {
		enc = base64.URLEncoding
	}
	var cek [chacha20poly1305.KeySize]byte
	if _, err := rand.Read(cek[:]); err != nil {
		return nil, err
	}
	alg := algAnoncrypt
	var senderX *[32]byte
	if sender != nil {
		if len(sender) != ed25519.PrivateKeySize {
			return nil, errors.New("pack: bad sender key")
		}
		alg = algAuthcrypt
		senderX = x25519Private(sender)
	}
	hdr := protectedHeader{Enc: EncRFC0019, Typ: envelopeTyp, Alg: alg}
	for _, rk := range recipients {
		theirX, err := x25519Public(rk)
		if err != nil {
			return nil, fmt.Errorf("pack: recipient %s: %w", verkey(rk), err)
		}
		r := recipient{Header: recipientHeader{KID: verkey(rk)}}
		if sender == nil {
			sealed, err := box.SealAnonymous(nil, cek[:], theirX, rand.Reader)
			if err != nil {
				return nil, err
			}
			r.EncryptedKey = enc.EncodeToString(sealed)
		} else {
			if err := checkShared(senderX, theirX); err != nil {
				return nil, fmt.Errorf("pack: recipient %s: %w", verkey(rk), err)
			}
			var nonce [24]byte
			if _, err := rand.Read(nonce[:]); err != nil {
				return nil, err
			}
			r.EncryptedKey = enc.EncodeToString(box.Seal(nil, cek[:], &nonce, theirX, senderX))
			sealedSender, err := box.SealAnonymous(nil, []byte(verkey(sender.Public().(ed25519.PublicKey))), theirX, rand.Reader)
			if err != nil {
				return nil, err
			}
			r.Header.Sender = enc.EncodeToString(sealedSender)
			r.Header.IV = enc.EncodeToString(nonce[:])
		}
		hdr.Recipients = append(hdr.Recipients, r)
	}
	hb, err := json.Marshal(hdr)
	if err != nil {
		return nil, err
	}
	protected := enc.EncodeToString(hb)
	aead, err := chacha20poly1305.New(cek[:])
	if err != nil {
		return nil, err
	}
	iv := make([]byte, aead.NonceSize())
	if _, err := rand.Read(iv); err != nil {
		return nil, err
	}
	sealed := aead.Seal(nil, iv, message, []byte(protected))
	split := len(sealed) - aead.Overhead()
	return json.Marshal(envelope{
		Protected:  protected,
		IV:         enc.EncodeToString(iv),
		Ciphertext: enc.EncodeToString(sealed[:split]),
		Tag:        enc.EncodeToString(sealed[split:]),
	})
}

// Unpacked is a decrypted envelope.
type Unpacked struct {
	Message []byte
	// SenderKey is the sender's verkey (authcrypt), nil for anoncrypt.
	SenderKey ed25519.PublicKey
	// RecipientKey is the key of ours the envelope was opened with.
	RecipientKey ed25519.PublicKey
	// Alg and Enc are what the protected header said.
	Alg, Enc string
}

// KeyLookup returns the private key of one of our verkeys (base58), if we hold it.
type KeyLookup func(verkey string) (ed25519.PrivateKey, bool)

// MaxEnvelopeSize bounds what Unpack reads.
const MaxEnvelopeSize = 1 << 20

// Unpack opens an RFC 0019 envelope addressed to one of our keys. The envelope is untrusted:
// every field is checked before use.
func Unpack(raw []byte, keys KeyLookup) (*Unpacked, error) {
	if len(raw) > MaxEnvelopeSize {
		return nil, errors.New("unpack: envelope too large")
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("unpack: envelope is not a JSON object: %w", err)
	}
	if env.Protected == "" || env.IV == "" || env.Tag == "" {
		return nil, errors.New("unpack: protected, iv and tag are required")
	}
	hb, err := decodeB64URL(env.Protected)
	if err != nil {
		return nil, fmt.Errorf("unpack: protected: %w", err)
	}
	var hdr protectedHeader
	if err := json.Unmarshal(hb, &hdr); err != nil {
		return nil, fmt.Errorf("unpack: protected header: %w", err)
	}
	if hdr.Typ != envelopeTyp {
		return nil, fmt.Errorf("unpack: typ %q, want %q", clip(hdr.Typ), envelopeTyp)
	}
	if hdr.Enc != EncRFC0019 && hdr.Enc != EncAFG {
		return nil, fmt.Errorf("unpack: unsupported enc %q", clip(hdr.Enc))
	}
	if hdr.Alg != algAuthcrypt && hdr.Alg != algAnoncrypt {
		return nil, fmt.Errorf("unpack: unsupported alg %q", clip(hdr.Alg))
	}
	var (
		rec  *recipient
		priv ed25519.PrivateKey
	)
	for i := range hdr.Recipients {
		if k, ok := keys(hdr.Recipients[i].Header.KID); ok && len(k) == ed25519.PrivateKeySize {
			rec, priv = &hdr.Recipients[i], k
			break
		}
	}
	if rec == nil {
		return nil, errors.New("unpack: not addressed to any key of ours")
	}
	myX := x25519Private(priv)
	encKey, err := decodeB64URL(rec.EncryptedKey)
	if err != nil {
		return nil, fmt.Errorf("unpack: encrypted_key: %w", err)
	}
	out := &Unpacked{RecipientKey: priv.Public().(ed25519.PublicKey), Alg: hdr.Alg, Enc: hdr.Enc}
	myPub, err := x25519Public(out.RecipientKey)
	if err != nil {
		return nil, err
	}
	var cek []byte
	switch {
	case hdr.Alg == algAuthcrypt:
		if rec.Header.Sender == "" || rec.Header.IV == "" {
			return nil, errors.New("unpack: authcrypt recipient without sender or iv")
		}
		sealedSender, err := decodeB64URL(rec.Header.Sender)
		if err != nil {
			return nil, fmt.Errorf("unpack: sender: %w", err)
		}
		senderB58, ok := box.OpenAnonymous(nil, sealedSender, myPub, myX)
		if !ok {
			return nil, errors.New("unpack: cannot open sender")
		}
		senderKey, err := parseVerkey(string(senderB58))
		if err != nil {
			return nil, fmt.Errorf("unpack: sender: %w", err)
		}
		senderX, err := x25519Public(senderKey)
		if err != nil {
			return nil, fmt.Errorf("unpack: sender: %w", err)
		}
		if err := checkShared(myX, senderX); err != nil {
			return nil, fmt.Errorf("unpack: sender: %w", err)
		}
		nonce, err := decodeB64URL(rec.Header.IV)
		if err != nil || len(nonce) != 24 {
			return nil, errors.New("unpack: recipient iv is not 24 bytes of base64url")
		}
		var n [24]byte
		copy(n[:], nonce)
		if cek, ok = box.Open(nil, encKey, &n, senderX, myX); !ok {
			return nil, errors.New("unpack: cannot decrypt the content key")
		}
		out.SenderKey = senderKey
	default:
		if rec.Header.Sender != "" || rec.Header.IV != "" {
			return nil, errors.New("unpack: anoncrypt recipient with sender or iv")
		}
		var ok bool
		if cek, ok = box.OpenAnonymous(nil, encKey, myPub, myX); !ok {
			return nil, errors.New("unpack: cannot decrypt the content key")
		}
	}
	if len(cek) != chacha20poly1305.KeySize {
		return nil, errors.New("unpack: content key is not 32 bytes")
	}
	iv, err := decodeB64URL(env.IV)
	if err != nil {
		return nil, fmt.Errorf("unpack: iv: %w", err)
	}
	ct, err := decodeB64URL(env.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("unpack: ciphertext: %w", err)
	}
	tag, err := decodeB64URL(env.Tag)
	if err != nil {
		return nil, fmt.Errorf("unpack: tag: %w", err)
	}
	if len(tag) != chacha20poly1305.Overhead {
		return nil, errors.New("unpack: tag is not 16 bytes")
	}
	var newAEAD = chacha20poly1305.New
	switch len(iv) {
	case chacha20poly1305.NonceSize:
	case chacha20poly1305.NonceSizeX:
		newAEAD = chacha20poly1305.NewX
	default:
		return nil, fmt.Errorf("unpack: iv is %d bytes, want 12", len(iv))
	}
	aead, err := newAEAD(cek)
	if err != nil {
		return nil, err
	}
	// The additional data is the protected header exactly as sent.
	msg, err := aead.Open(nil, iv, append(ct, tag...), []byte(env.Protected))
	if err != nil {
		return nil, errors.New("unpack: message does not decrypt (tampered, or wrong key)")
	}
	out.Message = msg
	return out, nil
}

// decodeB64URL decodes base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// decodeB64Any decodes base64 in either alphabet, with or without padding: RFC 0017 says
// attachments carry base64url, while ACA-Py, Credo and aries-framework-go write standard base64.
func decodeB64Any(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}
