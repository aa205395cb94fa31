package didcomm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hyperledger/aries-framework-go/pkg/didcomm/transport"
	"github.com/hyperledger/aries-framework-go/pkg/doc/util/jwkkid"
	"github.com/hyperledger/aries-framework-go/pkg/kms"
	"github.com/hyperledger/aries-framework-go/pkg/kms/localkms"
	"github.com/mr-tron/base58"
	"github.com/teserakt-io/golang-ed25519/extra25519"
	"golang.org/x/crypto/chacha20poly1305"
)

// envelopeOpener opens RFC 0019 envelopes (typ JWM/1.0, authcrypt and anoncrypt) with the
// agent's keys, in place of aries-framework-go's legacy packers, which refuse what ACA-Py and
// Credo send: they decode base64url only with '=' padding, and ACA-Py and Credo write it
// without (as RFC 7515, which JWE and so RFC 0019 build on, defines base64url), so every
// envelope from them failed with 400. The library's packers also panic on an iv that is not 12
// bytes. The cryptography is the RFC's and the library's: crypto_box / crypto_box_seal for the
// content key (through the library's KMS, which holds the private keys), IETF
// ChaCha20-Poly1305 with the protected header, exactly as sent, as additional data.
//
// Outbound envelopes are still packed by the library (padded base64url, which every
// implementation reads).
type envelopeOpener struct {
	kms kms.KeyManager
	box *localkms.CryptoBox
}

func newEnvelopeOpener(km kms.KeyManager) (*envelopeOpener, error) {
	b, err := localkms.NewCryptoBox(km)
	if err != nil {
		return nil, err
	}
	return &envelopeOpener{kms: km, box: b}, nil
}

type rfc19Envelope struct {
	Protected  string `json:"protected"`
	IV         string `json:"iv"`
	Ciphertext string `json:"ciphertext"`
	Tag        string `json:"tag"`
}

type rfc19Header struct {
	Typ        string `json:"typ"`
	Alg        string `json:"alg"`
	Recipients []struct {
		EncryptedKey string `json:"encrypted_key"`
		Header       struct {
			KID    string `json:"kid"`
			Sender string `json:"sender"`
			IV     string `json:"iv"`
		} `json:"header"`
	} `json:"recipients"`
}

// open returns handled == false when raw is not a JSON RFC 0019 envelope (the library's
// packager then tries it: DIDComm v2 JWEs are not ours to read).
func (o *envelopeOpener) open(raw []byte) (env *transport.Envelope, handled bool, err error) {
	var e rfc19Envelope
	if err := json.Unmarshal(raw, &e); err != nil || e.Protected == "" {
		return nil, false, nil
	}
	hb, err := decodeBase64URL(e.Protected)
	if err != nil {
		return nil, false, nil
	}
	var typ struct {
		Typ string `json:"typ"`
	}
	if err := json.Unmarshal(hb, &typ); err != nil || typ.Typ != "JWM/1.0" {
		return nil, false, nil
	}
	// From here on the envelope is ours: the library's packer must not see it (it panics on
	// some malformed ones).
	var h rfc19Header
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, true, fmt.Errorf("rfc0019: protected header: %w", err)
	}
	env, err = o.openRFC19(&e, &h)
	return env, true, err
}

func (o *envelopeOpener) openRFC19(e *rfc19Envelope, h *rfc19Header) (*transport.Envelope, error) {
	if h.Alg != "Authcrypt" && h.Alg != "Anoncrypt" {
		return nil, fmt.Errorf("rfc0019: unsupported alg %q", h.Alg)
	}
	for _, r := range h.Recipients {
		myKey, err := base58.Decode(r.Header.KID)
		if err != nil || len(myKey) != 32 {
			continue
		}
		kid, err := jwkkid.CreateKID(myKey, kms.ED25519Type)
		if err != nil {
			continue
		}
		if _, err := o.kms.Get(kid); err != nil {
			continue // not one of our keys
		}
		encKey, err := decodeBase64URL(r.EncryptedKey)
		if err != nil {
			return nil, fmt.Errorf("rfc0019: encrypted_key: %w", err)
		}
		var cek, senderKey []byte
		if h.Alg == "Authcrypt" {
			if r.Header.Sender == "" || r.Header.IV == "" {
				return nil, errors.New("rfc0019: authcrypt recipient without sender or iv")
			}
			sealed, err := decodeBase64URL(r.Header.Sender)
			if err != nil {
				return nil, fmt.Errorf("rfc0019: sender: %w", err)
			}
			senderB58, err := o.box.SealOpen(sealed, myKey)
			if err != nil {
				return nil, fmt.Errorf("rfc0019: sender: %w", err)
			}
			senderKey, err = base58.Decode(string(senderB58))
			var edPub, xPub [32]byte
			if err != nil || len(senderKey) != 32 {
				return nil, errors.New("rfc0019: sender is not an Ed25519 verkey")
			}
			copy(edPub[:], senderKey)
			if !extra25519.PublicKeyToCurve25519(&xPub, &edPub) {
				return nil, errors.New("rfc0019: sender key is not on the curve")
			}
			nonce, err := decodeBase64URL(r.Header.IV)
			if err != nil || len(nonce) != 24 {
				return nil, errors.New("rfc0019: recipient iv is not 24 bytes")
			}
			if cek, err = o.box.EasyOpen(encKey, nonce, xPub[:], myKey); err != nil {
				return nil, fmt.Errorf("rfc0019: content key: %w", err)
			}
		} else if cek, err = o.box.SealOpen(encKey, myKey); err != nil {
			return nil, fmt.Errorf("rfc0019: content key: %w", err)
		}
		msg, err := openContent(e, cek)
		if err != nil {
			return nil, err
		}
		return &transport.Envelope{Message: msg, FromKey: senderKey, ToKey: myKey}, nil
	}
	return nil, errors.New("rfc0019: not addressed to any key of this agent")
}

// openContent decrypts the message: IETF ChaCha20-Poly1305 with a 12-byte iv (what the RFC's
// algorithm, indy-sdk, ACA-Py, Credo and aries-framework-go use, whatever "enc" says), or
// XChaCha20-Poly1305 for a 24-byte iv.
func openContent(e *rfc19Envelope, cek []byte) ([]byte, error) {
	if len(cek) != chacha20poly1305.KeySize {
		return nil, errors.New("rfc0019: content key is not 32 bytes")
	}
	iv, err := decodeBase64URL(e.IV)
	if err != nil {
		return nil, fmt.Errorf("rfc0019: iv: %w", err)
	}
	ct, err := decodeBase64URL(e.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("rfc0019: ciphertext: %w", err)
	}
	tag, err := decodeBase64URL(e.Tag)
	if err != nil || len(tag) != chacha20poly1305.Overhead {
		return nil, errors.New("rfc0019: tag is not 16 bytes of base64url")
	}
	newAEAD := chacha20poly1305.New
	switch len(iv) {
	case chacha20poly1305.NonceSize:
	case chacha20poly1305.NonceSizeX:
		newAEAD = chacha20poly1305.NewX
	default:
		return nil, fmt.Errorf("rfc0019: iv is %d bytes, want 12", len(iv))
	}
	aead, err := newAEAD(cek)
	if err != nil {
		return nil, err
	}
	msg, err := aead.Open(nil, iv, append(ct, tag...), []byte(e.Protected))
	if err != nil {
		return nil, errors.New("rfc0019: message does not decrypt")
	}
	return msg, nil
}

// decodeBase64URL decodes base64url with or without '=' padding.
func decodeBase64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}
