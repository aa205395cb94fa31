package rfcholder

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// RFC 0017 attachments, and their signatures: a JWS with a detached payload whose signing
// input is ASCII(protected) || "." || base64url(data). The signer is named by a did:key in the
// unprotected header's kid (RFC 0023 signs DID documents this way); the protected header
// carries alg EdDSA and the key as a JWK, as ACA-Py, Credo and aries-framework-go write it.

// Attachment is an RFC 0017 attachment.
type Attachment struct {
	ID       string         `json:"@id,omitempty"`
	MimeType string         `json:"mime-type,omitempty"`
	Data     AttachmentData `json:"data"`
}

// AttachmentData is an attachment's inline content.
type AttachmentData struct {
	Base64 string          `json:"base64,omitempty"`
	JSON   json.RawMessage `json:"json,omitempty"`
	JWS    json.RawMessage `json:"jws,omitempty"`
}

// Bytes returns the attachment's inline content (JSON as sent, or decoded base64).
func (a Attachment) Bytes() ([]byte, error) {
	switch {
	case a.Data.Base64 != "":
		b, err := decodeB64Any(a.Data.Base64)
		if err != nil {
			return nil, fmt.Errorf("attachment %q: base64: %w", clip(a.ID), err)
		}
		return b, nil
	case len(a.Data.JSON) > 0 && !bytes.Equal(a.Data.JSON, []byte("null")):
		return a.Data.JSON, nil
	}
	return nil, fmt.Errorf("attachment %q has no inline data", clip(a.ID))
}

type jwsHeader struct {
	KID string `json:"kid,omitempty"`
}

type jwsSignature struct {
	Header    jwsHeader `json:"header"`
	Protected string    `json:"protected"`
	Signature string    `json:"signature"`
}

type jwsProtected struct {
	Alg string `json:"alg"`
	KID string `json:"kid,omitempty"`
	JWK *jwk   `json:"jwk,omitempty"`
}

type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	KID string `json:"kid,omitempty"`
}

// SignedAttachment returns data as a base64 attachment signed by key. The data is written in
// standard base64 with padding, as ACA-Py, Credo and aries-framework-go write it (the last
// reads nothing else).
func SignedAttachment(id, mimeType string, data []byte, key ed25519.PrivateKey) (Attachment, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Attachment{}, errors.New("sign attachment: bad key")
	}
	pub := key.Public().(ed25519.PublicKey)
	kid := DIDKey(pub)
	ph, err := json.Marshal(jwsProtected{Alg: "EdDSA", KID: kid, JWK: &jwk{
		Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), KID: kid,
	}})
	if err != nil {
		return Attachment{}, err
	}
	protected := base64.RawURLEncoding.EncodeToString(ph)
	sig := ed25519.Sign(key, signingInput(protected, data))
	js, err := json.Marshal(jwsSignature{
		Header:    jwsHeader{KID: kid},
		Protected: protected,
		Signature: base64.RawURLEncoding.EncodeToString(sig),
	})
	if err != nil {
		return Attachment{}, err
	}
	return Attachment{ID: id, MimeType: mimeType, Data: AttachmentData{
		Base64: base64.StdEncoding.EncodeToString(data),
		JWS:    js,
	}}, nil
}

func signingInput(protected string, data []byte) []byte {
	return []byte(protected + "." + base64.RawURLEncoding.EncodeToString(data))
}

// VerifyAttachment checks that a is signed by key and returns its content. An attachment
// without a signature, or signed only by other keys, fails: RFC 0023 requires the response's
// DID document to be signed by the invitation's key, and that is what callers pass.
func VerifyAttachment(a Attachment, key ed25519.PublicKey) ([]byte, error) {
	if len(key) != ed25519.PublicKeySize {
		return nil, errors.New("verify attachment: bad key")
	}
	if a.Data.Base64 == "" {
		return nil, errors.New("verify attachment: a signed attachment carries base64 data")
	}
	data, err := a.Bytes()
	if err != nil {
		return nil, err
	}
	if len(a.Data.JWS) == 0 || bytes.Equal(a.Data.JWS, []byte("null")) {
		return nil, errors.New("verify attachment: not signed (no data.jws)")
	}
	sigs, err := parseJWS(a.Data.JWS)
	if err != nil {
		return nil, err
	}
	want := DIDKey(key)
	var lastErr error
	for _, s := range sigs {
		kid := s.Header.KID
		ph, err := decodeB64URL(s.Protected)
		if err != nil {
			lastErr = fmt.Errorf("verify attachment: protected header: %w", err)
			continue
		}
		var p jwsProtected
		if err := json.Unmarshal(ph, &p); err != nil {
			lastErr = fmt.Errorf("verify attachment: protected header: %w", err)
			continue
		}
		if kid == "" {
			kid = p.KID
		}
		signer, err := ParseDIDKey(kid)
		if err != nil {
			lastErr = fmt.Errorf("verify attachment: kid: %w", err)
			continue
		}
		if !bytes.Equal(signer, key) {
			lastErr = fmt.Errorf("verify attachment: signed by %s, want %s", clip(kid), want)
			continue
		}
		if p.Alg != "EdDSA" {
			return nil, fmt.Errorf("verify attachment: alg %q, want EdDSA", clip(p.Alg))
		}
		if p.JWK != nil {
			x, err := decodeB64URL(p.JWK.X)
			if err != nil || p.JWK.Kty != "OKP" || p.JWK.Crv != "Ed25519" || !bytes.Equal(x, key) {
				return nil, errors.New("verify attachment: protected jwk is not the kid's key")
			}
		}
		sig, err := decodeB64URL(s.Signature)
		if err != nil {
			return nil, fmt.Errorf("verify attachment: signature: %w", err)
		}
		if !ed25519.Verify(key, signingInput(s.Protected, data), sig) {
			return nil, fmt.Errorf("verify attachment: the signature by %s does not verify", want)
		}
		return data, nil
	}
	if lastErr == nil {
		lastErr = errors.New("verify attachment: no signature")
	}
	return nil, lastErr
}

// parseJWS reads a JWS in the flattened (one signature) or general (signatures) JSON form.
func parseJWS(raw json.RawMessage) ([]jwsSignature, error) {
	var general struct {
		Signatures []jwsSignature `json:"signatures"`
	}
	if err := json.Unmarshal(raw, &general); err != nil {
		return nil, fmt.Errorf("verify attachment: jws: %w", err)
	}
	if len(general.Signatures) > 0 {
		return general.Signatures, nil
	}
	var flat jwsSignature
	if err := json.Unmarshal(raw, &flat); err != nil {
		return nil, fmt.Errorf("verify attachment: jws: %w", err)
	}
	if flat.Signature == "" {
		return nil, errors.New("verify attachment: jws has no signature")
	}
	return []jwsSignature{flat}, nil
}
