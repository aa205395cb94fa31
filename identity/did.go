package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/mr-tron/base58"
)

// DIDDocument is the part of a resolved DID document the verifier uses.
type DIDDocument struct {
	ID      string
	Methods []VerificationMethod
}

// Curve names the kind of a verification method's public key.
type Curve string

// Key kinds the verifier checks signatures with.
const (
	CurveEd25519 Curve = "Ed25519"
	CurveP256    Curve = "P-256"
	// CurveBLS12381G2 keys verify BBS+ signatures and proofs.
	CurveBLS12381G2 Curve = "BLS12381_G2"
)

// VerificationMethod is a key of a DID document and what it is authorised for.
type VerificationMethod struct {
	// ID is absolute: did#fragment.
	ID         string
	Type       string
	Controller string
	// Curve is the kind of PublicKey; empty means Ed25519 (the only kind before it existed).
	Curve Curve
	// PublicKey is the raw key: 32 bytes for Ed25519, the 65-byte uncompressed point for
	// P-256, 96 bytes for a BLS12-381 G2 key.
	PublicKey []byte
	// Authentication and AssertionMethod say whether the key may sign presentations
	// (authentication) and credentials (assertionMethod).
	Authentication  bool
	AssertionMethod bool
}

// KeyCurve returns the method's curve, Ed25519 when unset.
func (m VerificationMethod) KeyCurve() Curve {
	if m.Curve == "" {
		return CurveEd25519
	}
	return m.Curve
}

// Method returns the verification method whose absolute ID is id, if any. Matching is exact:
// never by prefix or substring.
func (d *DIDDocument) Method(id string) (VerificationMethod, bool) {
	for _, m := range d.Methods {
		if m.ID == id {
			return m, true
		}
	}
	return VerificationMethod{}, false
}

// Resolver resolves DIDs to documents. Implementations are safe for concurrent use.
// Errors are *RejectError with ReasonUnsupportedDIDMethod or ReasonUnresolvableDID.
type Resolver interface {
	Resolve(ctx context.Context, did string) (*DIDDocument, error)
}

// Multicodec prefixes (varint-encoded) of the public keys did:key, did:peer and Multikey use.
var (
	ed25519Multicodec = []byte{0xed, 0x01}
	p256Multicodec    = []byte{0x80, 0x24}
	bls12381G2Codec   = []byte{0xeb, 0x01}
	x25519Multicodec  = []byte{0xec, 0x01}
)

// KeyResolver resolves did:key DIDs with Ed25519, P-256 or BLS12-381 G2 keys, offline.
type KeyResolver struct{}

var _ Resolver = KeyResolver{}

// Resolve expands a did:key into its document.
func (KeyResolver) Resolve(_ context.Context, did string) (*DIDDocument, error) {
	method, id, err := splitDID(did)
	if err != nil {
		return nil, err
	}
	if method != "key" {
		return nil, reject(ReasonUnsupportedDIDMethod, "did:%s is not supported", truncate(method))
	}
	vm, err := multikeyMethod(did, did+"#"+id, id)
	if err != nil {
		return nil, reject(ReasonUnresolvableDID, "%s: %v", truncate(did), err)
	}
	vm.Authentication, vm.AssertionMethod = true, true
	return &DIDDocument{ID: did, Methods: []VerificationMethod{vm}}, nil
}

// multikeyMethod decodes a multibase, multicodec-prefixed public key into a method.
func multikeyMethod(controller, id, multibase string) (VerificationMethod, error) {
	curve, pub, err := decodeMultikey(multibase)
	if err != nil {
		return VerificationMethod{}, err
	}
	t := map[Curve]string{CurveEd25519: "Ed25519VerificationKey2020", CurveP256: "Multikey", CurveBLS12381G2: "Bls12381G2Key2020"}[curve]
	return VerificationMethod{ID: id, Type: t, Controller: controller, Curve: curve, PublicKey: pub}, nil
}

// decodeMultikey decodes a base58btc multibase ("z…") multicodec public key.
func decodeMultikey(s string) (Curve, []byte, error) {
	if !strings.HasPrefix(s, "z") {
		return "", nil, errors.New("not a base58btc multibase value")
	}
	if len(s) > 256 {
		return "", nil, errors.New("key is too long")
	}
	raw, err := base58.Decode(s[1:])
	if err != nil {
		return "", nil, fmt.Errorf("bad base58: %w", err)
	}
	return decodeMulticodecKey(raw)
}

func decodeMulticodecKey(raw []byte) (Curve, []byte, error) {
	switch {
	case hasCodec(raw, ed25519Multicodec) && len(raw) == 2+ed25519.PublicKeySize:
		return CurveEd25519, raw[2:], nil
	case hasCodec(raw, p256Multicodec) && (len(raw) == 2+33 || len(raw) == 2+65):
		pub, err := p256Uncompressed(raw[2:])
		if err != nil {
			return "", nil, err
		}
		return CurveP256, pub, nil
	case hasCodec(raw, bls12381G2Codec) && len(raw) == 2+96:
		return CurveBLS12381G2, raw[2:], nil
	case hasCodec(raw, x25519Multicodec):
		return "", nil, errors.New("an X25519 key agreement key cannot sign")
	}
	return "", nil, errors.New("not an Ed25519, P-256 or BLS12-381 G2 public key")
}

func hasCodec(raw, codec []byte) bool {
	return len(raw) > len(codec) && raw[0] == codec[0] && raw[1] == codec[1]
}

// p256Uncompressed validates a compressed or uncompressed P-256 point and returns it
// uncompressed.
func p256Uncompressed(b []byte) ([]byte, error) {
	curve := elliptic.P256()
	var x, y *big.Int
	switch {
	case len(b) == 33 && (b[0] == 2 || b[0] == 3):
		x, y = elliptic.UnmarshalCompressed(curve, b)
	case len(b) == 65 && b[0] == 4:
		x, y = new(big.Int).SetBytes(b[1:33]), new(big.Int).SetBytes(b[33:])
		if !curve.IsOnCurve(x, y) {
			x = nil
		}
	}
	if x == nil {
		return nil, errors.New("not a P-256 point")
	}
	return elliptic.Marshal(curve, x, y), nil //nolint:staticcheck // the uncompressed encoding is what we want
}

// ecdsaKey returns the P-256 public key of an uncompressed point.
func ecdsaKey(pub []byte) (*ecdsa.PublicKey, error) {
	if len(pub) != 65 || pub[0] != 4 {
		return nil, errors.New("not an uncompressed P-256 point")
	}
	k := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(pub[1:33]), Y: new(big.Int).SetBytes(pub[33:])}
	if !k.Curve.IsOnCurve(k.X, k.Y) {
		return nil, errors.New("not a P-256 point")
	}
	return k, nil
}

// DIDKey returns the did:key of an Ed25519 public key.
func DIDKey(pub ed25519.PublicKey) string {
	return "did:key:z" + base58.Encode(append(append([]byte{}, ed25519Multicodec...), pub...))
}

// DIDKeyMethod returns the verification method id of the did:key of pub.
func DIDKeyMethod(pub ed25519.PublicKey) string {
	d := DIDKey(pub)
	return d + "#" + strings.TrimPrefix(d, "did:key:")
}

// DIDKeyP256 returns the did:key of a P-256 public key (compressed point, as did:key wants).
func DIDKeyP256(pub *ecdsa.PublicKey) string {
	return "did:key:z" + base58.Encode(append(append([]byte{}, p256Multicodec...), elliptic.MarshalCompressed(elliptic.P256(), pub.X, pub.Y)...))
}

// DIDKeyBLS12381G2 returns the did:key of a 96-byte BLS12-381 G2 public key (BBS+ issuers).
func DIDKeyBLS12381G2(pub []byte) string {
	return "did:key:z" + base58.Encode(append(append([]byte{}, bls12381G2Codec...), pub...))
}

// KeyMethodID returns the id of the only verification method of a did:key DID.
func KeyMethodID(didKey string) string {
	return didKey + "#" + strings.TrimPrefix(didKey, "did:key:")
}

// splitDID returns the method and method-specific id of a DID without path, query or fragment.
func splitDID(did string) (method, id string, err error) {
	parts := strings.SplitN(did, ":", 3)
	if len(parts) != 3 || parts[0] != "did" || parts[1] == "" || parts[2] == "" {
		return "", "", reject(ReasonUnresolvableDID, "%q is not a DID", truncate(did))
	}
	for _, r := range parts[1] {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return "", "", reject(ReasonUnresolvableDID, "%q is not a DID", truncate(did))
		}
	}
	if strings.ContainsAny(parts[2], "/?#") {
		return "", "", reject(ReasonUnresolvableDID, "%q is a DID URL, not a DID", truncate(did))
	}
	return parts[1], parts[2], nil
}

// DIDMethod returns the method of a DID ("key" of did:key:…), or "" if s is not a DID.
func DIDMethod(s string) string {
	m, _, err := splitDID(s)
	if err != nil {
		return ""
	}
	return m
}

// truncate keeps untrusted values short in error details.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
