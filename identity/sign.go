package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hyperledger/aries-framework-go/component/kmscrypto/crypto/primitive/bbs12381g2pub"
	"github.com/hyperledger/aries-framework-go/component/models/ld/processor"
	"github.com/hyperledger/aries-framework-go/component/models/ld/proof"
	"github.com/hyperledger/aries-framework-go/component/models/signature/signer"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/bbsblssignature2020"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/ed25519signature2018"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/ed25519signature2020"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/jsonwebsignature2020"
	"github.com/piprate/json-gold/ld"
)

// Signer makes raw signatures; implementations may keep the key in a KMS. An Ed25519 signer
// returns the 64-byte signature; a P-256 signer (Algorithm "ES256") r||s over SHA-256 of data.
type Signer interface {
	Sign(data []byte) ([]byte, error)
}

// AlgorithmSigner is a Signer that says which JOSE algorithm it signs with. A Signer that does
// not implement it signs EdDSA.
type AlgorithmSigner interface {
	Signer
	Algorithm() string
}

func signerAlg(s Signer) string {
	if a, ok := s.(AlgorithmSigner); ok {
		return a.Algorithm()
	}
	return AlgEdDSA
}

// Ed25519Signer signs with an in-memory Ed25519 private key.
type Ed25519Signer ed25519.PrivateKey

// Sign signs data.
func (k Ed25519Signer) Sign(data []byte) ([]byte, error) {
	return ed25519.Sign(ed25519.PrivateKey(k), data), nil
}

// Algorithm is EdDSA.
func (Ed25519Signer) Algorithm() string { return AlgEdDSA }

// P256Signer signs ES256 with an in-memory P-256 private key.
type P256Signer struct{ Key *ecdsa.PrivateKey }

// Sign returns r||s (32 bytes each) of an ECDSA signature over SHA-256 of data.
func (k P256Signer) Sign(data []byte) ([]byte, error) {
	h := sha256.Sum256(data)
	r, s, err := ecdsa.Sign(rand.Reader, k.Key, h[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out, nil
}

// Algorithm is ES256.
func (P256Signer) Algorithm() string { return AlgES256 }

// BBSSigner signs BBS+ signatures (BbsBlsSignature2020) with a BLS12-381 key pair.
type BBSSigner struct{ PrivateKey []byte }

// Sign signs each line of data (canonical N-Quads) as one BBS+ message.
func (k BBSSigner) Sign(data []byte) ([]byte, error) {
	return bbs12381g2pub.New().Sign(bbsMessages(string(data), false), k.PrivateKey)
}

// Algorithm is the BBS+ signature algorithm name.
func (BBSSigner) Algorithm() string { return "Bls12381G2" }

// NewBBSKey returns a BLS12-381 G2 key pair for BBS+ (96-byte public key) from a seed of at
// least 32 bytes (nil: random).
func NewBBSKey(seed []byte) (pub, priv []byte, err error) {
	if seed == nil {
		seed = make([]byte, 32)
		if _, err := rand.Read(seed); err != nil {
			return nil, nil, err
		}
	}
	pk, sk, err := bbs12381g2pub.GenerateKeyPair(sha256.New, seed)
	if err != nil {
		return nil, nil, err
	}
	if pub, err = pk.Marshal(); err != nil {
		return nil, nil, err
	}
	if priv, err = sk.Marshal(); err != nil {
		return nil, nil, err
	}
	return pub, priv, nil
}

// LDProof describes the Data Integrity proof to add to a document.
type LDProof struct {
	// Type is Ed25519Signature2020 (default), Ed25519Signature2018, JsonWebSignature2020
	// (Ed25519 or P-256 signer) or BbsBlsSignature2020 (BBSSigner).
	Type string
	// VerificationMethod is the absolute id of the signing key (did#fragment).
	VerificationMethod string
	// Purpose is assertionMethod (credentials) or authentication (presentations).
	Purpose   string
	Challenge string
	Domain    string
	Created   time.Time
}

type algSigner struct{ Signer }

func (a algSigner) Alg() string { return signerAlg(a.Signer) }

// SignLD adds a Data Integrity proof to a JSON-LD document and returns the signed document.
// Every context the document uses must be known to loader.
func SignLD(doc []byte, s Signer, p LDProof, loader ld.DocumentLoader) ([]byte, error) {
	if p.VerificationMethod == "" || p.Purpose == "" {
		return nil, errors.New("sign: verification method and purpose are required")
	}
	if p.Type == "" {
		p.Type = ProofEd25519Signature2020
	}
	if p.Created.IsZero() {
		p.Created = time.Now()
	}
	created := p.Created.UTC().Truncate(time.Second)
	var st signer.SignatureSuite
	repr := proof.SignatureProofValue
	switch p.Type {
	case ProofEd25519Signature2020:
		st = ed25519signature2020.New(suite.WithSigner(algSigner{s}))
	case ProofEd25519Signature2018:
		st = ed25519signature2018.New(suite.WithSigner(algSigner{s}))
	case ProofJsonWebSignature2020:
		st, repr = jsonwebsignature2020.New(suite.WithSigner(algSigner{s})), proof.SignatureJWS
	case ProofBbsBlsSignature2020:
		st = bbsblssignature2020.New(suite.WithSigner(algSigner{s}))
	default:
		return nil, fmt.Errorf("sign: unsupported proof type %q", p.Type)
	}
	signed, err := signer.New(st).Sign(&signer.Context{
		SignatureType:           p.Type,
		SignatureRepresentation: repr,
		VerificationMethod:      p.VerificationMethod,
		Purpose:                 p.Purpose,
		Challenge:               p.Challenge,
		Domain:                  p.Domain,
		Created:                 &created,
	}, doc, processor.WithDocumentLoader(loader))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	// A single proof is written as an object, as most wallets and verifiers expect.
	var m map[string]any
	if err := json.Unmarshal(signed, &m); err != nil {
		return nil, err
	}
	if list, ok := m["proof"].([]any); ok && len(list) == 1 {
		m["proof"] = list[0]
	}
	return json.Marshal(m)
}

// SignJWT returns a compact JWS of claims with the given header members (alg is set from the
// signer; typ and kid are the caller's).
func SignJWT(header map[string]any, claims any, s Signer) (string, error) {
	h := map[string]any{}
	for k, v := range header {
		h[k] = v
	}
	h["alg"] = signerAlg(s)
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	pb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64url(hb) + "." + b64url(pb)
	sig, err := s.Sign([]byte(input))
	if err != nil {
		return "", fmt.Errorf("sign JWT: %w", err)
	}
	return input + "." + b64url(sig), nil
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwtPayload returns the decoded payload of a compact JWS (no verification).
func jwtPayload(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
