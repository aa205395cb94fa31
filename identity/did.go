package identity

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// DIDDocument is the part of a resolved DID document the verifier uses.
type DIDDocument struct {
	ID      string
	Methods []VerificationMethod
}

// VerificationMethod is a key of a DID document and what it is authorised for.
type VerificationMethod struct {
	// ID is absolute: did#fragment.
	ID         string
	Type       string
	Controller string
	// PublicKey is the raw key (32 bytes for Ed25519).
	PublicKey []byte
	// Authentication and AssertionMethod say whether the key may sign presentations
	// (authentication) and credentials (assertionMethod).
	Authentication  bool
	AssertionMethod bool
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

// KeyResolver resolves did:key DIDs with Ed25519 keys, offline.
type KeyResolver struct{}

var _ Resolver = KeyResolver{}

// ed25519Multicodec is the multicodec prefix of an Ed25519 public key (0xed, varint-encoded).
var ed25519Multicodec = []byte{0xed, 0x01}

// Resolve expands a did:key into its document.
func (KeyResolver) Resolve(_ context.Context, did string) (*DIDDocument, error) {
	method, id, err := splitDID(did)
	if err != nil {
		return nil, err
	}
	if method != "key" {
		return nil, reject(ReasonUnsupportedDIDMethod, "did:%s is not supported", method)
	}
	pub, err := decodeDIDKey(id)
	if err != nil {
		return nil, reject(ReasonUnresolvableDID, "%s: %v", truncate(did), err)
	}
	return &DIDDocument{
		ID: did,
		Methods: []VerificationMethod{{
			ID:              did + "#" + id,
			Type:            "Ed25519VerificationKey2018",
			Controller:      did,
			PublicKey:       pub,
			Authentication:  true,
			AssertionMethod: true,
		}},
	}, nil
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

func decodeDIDKey(id string) (ed25519.PublicKey, error) {
	if !strings.HasPrefix(id, "z") {
		return nil, errors.New("not a base58btc multibase value")
	}
	raw, err := base58.Decode(id[1:])
	if err != nil {
		return nil, fmt.Errorf("bad base58: %w", err)
	}
	if len(raw) != len(ed25519Multicodec)+ed25519.PublicKeySize || raw[0] != ed25519Multicodec[0] || raw[1] != ed25519Multicodec[1] {
		return nil, errors.New("not an Ed25519 public key")
	}
	return ed25519.PublicKey(raw[2:]), nil
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

// truncate keeps untrusted values short in error details.
func truncate(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
