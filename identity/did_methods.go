package identity

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/mr-tron/base58"
)

// Methods resolves each DID with the resolver registered for its method, e.g.
// Methods{"key": KeyResolver{}, "web": webResolver}. A DID of any other method is refused with
// ReasonUnsupportedDIDMethod. The "*" entry, if present, resolves every other method (a
// Universal Resolver, typically).
type Methods map[string]Resolver

var _ Resolver = Methods{}

// OfflineMethods returns the resolvers of the DID methods whose documents are derived from the
// DID itself: did:key, did:jwk and did:peer (numalgo 0 and 2).
func OfflineMethods() Methods {
	return Methods{"key": KeyResolver{}, "jwk": JWKResolver{}, "peer": PeerResolver{}}
}

// Resolve dispatches did to its method's resolver.
func (m Methods) Resolve(ctx context.Context, did string) (*DIDDocument, error) {
	method, _, err := splitDID(did)
	if err != nil {
		return nil, err
	}
	r, ok := m[method]
	if !ok {
		if r, ok = m["*"]; !ok {
			return nil, reject(ReasonUnsupportedDIDMethod, "did:%s is not supported", truncate(method))
		}
	}
	return r.Resolve(ctx, did)
}

// JWKResolver resolves did:jwk DIDs (https://github.com/quartzjer/did-jwk), offline.
type JWKResolver struct{}

var _ Resolver = JWKResolver{}

// Resolve decodes the JWK in a did:jwk into a document with one method, "#0".
func (JWKResolver) Resolve(_ context.Context, did string) (*DIDDocument, error) {
	method, id, err := splitDID(did)
	if err != nil {
		return nil, err
	}
	if method != "jwk" {
		return nil, reject(ReasonUnsupportedDIDMethod, "did:%s is not supported", truncate(method))
	}
	if len(id) > 4096 {
		return nil, reject(ReasonUnresolvableDID, "did:jwk is too long")
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return nil, reject(ReasonUnresolvableDID, "did:jwk is not base64url")
	}
	curve, pub, err := parseJWK(raw)
	if err != nil {
		return nil, reject(ReasonUnresolvableDID, "did:jwk: %v", err)
	}
	return &DIDDocument{ID: did, Methods: []VerificationMethod{{
		ID: did + "#0", Type: "JsonWebKey2020", Controller: did, Curve: curve, PublicKey: pub,
		Authentication: true, AssertionMethod: true,
	}}}, nil
}

// jsonWebKey is a public JWK of the kinds the verifier knows.
type jsonWebKey struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	D   string `json:"d,omitempty"`
}

// parseJWK decodes a public Ed25519 (OKP), P-256 (EC) or BLS12-381 G2 JWK.
func parseJWK(raw []byte) (Curve, []byte, error) {
	var k jsonWebKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", nil, errors.New("not a JSON Web Key")
	}
	return k.decode()
}

func (k jsonWebKey) decode() (Curve, []byte, error) {
	if k.D != "" {
		return "", nil, errors.New("a private key was published")
	}
	x, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil {
		return "", nil, errors.New("JWK x is not base64url")
	}
	switch {
	case k.Kty == "OKP" && k.Crv == "Ed25519" && len(x) == ed25519.PublicKeySize:
		return CurveEd25519, x, nil
	case k.Kty == "EC" && k.Crv == "P-256":
		y, err := base64.RawURLEncoding.DecodeString(k.Y)
		if err != nil || len(x) != 32 || len(y) != 32 {
			return "", nil, errors.New("JWK is not a P-256 point")
		}
		pub, err := p256Uncompressed(append(append([]byte{4}, x...), y...))
		if err != nil {
			return "", nil, err
		}
		return CurveP256, pub, nil
	case (k.Kty == "OKP" || k.Kty == "EC") && (k.Crv == "Bls12381G2" || k.Crv == "BLS12381_G2") && len(x) == 96:
		return CurveBLS12381G2, x, nil
	}
	return "", nil, fmt.Errorf("JWK kty %q crv %q is not supported", truncate(k.Kty), truncate(k.Crv))
}

// PublicJWK returns the JSON Web Key of an Ed25519 or P-256 public key, with its members in
// lexicographic order (the form did:jwk and JWK thumbprints use).
func PublicJWK(pub crypto.PublicKey) ([]byte, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return []byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(k) + `"}`), nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, errors.New("only P-256 EC keys are supported")
		}
		var x, y [32]byte
		k.X.FillBytes(x[:])
		k.Y.FillBytes(y[:])
		return []byte(`{"crv":"P-256","kty":"EC","x":"` + base64.RawURLEncoding.EncodeToString(x[:]) + `","y":"` + base64.RawURLEncoding.EncodeToString(y[:]) + `"}`), nil
	}
	return nil, fmt.Errorf("unsupported public key %T", pub)
}

// DIDJWK returns the did:jwk of an Ed25519 or P-256 public key; its only method is DID+"#0".
func DIDJWK(pub crypto.PublicKey) (string, error) {
	j, err := PublicJWK(pub)
	if err != nil {
		return "", err
	}
	return "did:jwk:" + base64.RawURLEncoding.EncodeToString(j), nil
}

// PeerResolver resolves did:peer DIDs of numalgo 0 (one inception key) and 2 (keys and
// services in the DID), the forms wallets such as Credo use, offline. Keys of numalgo 2 get
// the ids "#key-N" (N counting every key from 1, in order) and, as older Credo versions wrote
// them, "#" + their multibase value.
type PeerResolver struct{}

var _ Resolver = PeerResolver{}

// Resolve expands a did:peer:0 or did:peer:2 into its document.
func (PeerResolver) Resolve(_ context.Context, did string) (*DIDDocument, error) {
	method, id, err := splitDID(did)
	if err != nil {
		return nil, err
	}
	if method != "peer" {
		return nil, reject(ReasonUnsupportedDIDMethod, "did:%s is not supported", truncate(method))
	}
	if len(id) > 8192 {
		return nil, reject(ReasonUnresolvableDID, "did:peer is too long")
	}
	switch {
	case strings.HasPrefix(id, "0"):
		vm, err := multikeyMethod(did, did+"#"+id[1:], id[1:])
		if err != nil {
			return nil, reject(ReasonUnresolvableDID, "did:peer:0: %v", err)
		}
		vm.Authentication, vm.AssertionMethod = true, true
		return &DIDDocument{ID: did, Methods: []VerificationMethod{vm}}, nil
	case strings.HasPrefix(id, "2."):
		doc := &DIDDocument{ID: did}
		n := 0
		for _, el := range strings.Split(id[2:], ".") {
			if el == "" {
				return nil, reject(ReasonUnresolvableDID, "did:peer:2 has an empty element")
			}
			purpose, value := el[0], el[1:]
			if purpose == 'S' {
				continue // services do not matter to verification
			}
			n++
			if purpose == 'E' {
				continue // key agreement keys cannot sign; they still take a number
			}
			vm, err := multikeyMethod(did, did+"#key-"+strconv.Itoa(n), value)
			if err != nil {
				return nil, reject(ReasonUnresolvableDID, "did:peer:2 key %d: %v", n, err)
			}
			switch purpose {
			case 'V':
				vm.Authentication = true
			case 'A':
				vm.AssertionMethod = true
			case 'I', 'D':
			default:
				return nil, reject(ReasonUnresolvableDID, "did:peer:2 purpose code %q is unknown", string(purpose))
			}
			alias := vm
			alias.ID = did + "#" + value
			doc.Methods = append(doc.Methods, vm, alias)
		}
		return doc, nil
	}
	return nil, reject(ReasonUnresolvableDID, "only did:peer numalgo 0 and 2 are resolved")
}

// didDocumentJSON is a DID document as published (did:web, a Universal Resolver).
type didDocumentJSON struct {
	ID                 string            `json:"id"`
	VerificationMethod []json.RawMessage `json:"verificationMethod"`
	PublicKey          []json.RawMessage `json:"publicKey"` // pre-DID-Core documents (did:sov)
	Authentication     []json.RawMessage `json:"authentication"`
	AssertionMethod    []json.RawMessage `json:"assertionMethod"`
}

type methodJSON struct {
	ID                 string          `json:"id"`
	Type               string          `json:"type"`
	Controller         string          `json:"controller"`
	PublicKeyBase58    string          `json:"publicKeyBase58"`
	PublicKeyMultibase string          `json:"publicKeyMultibase"`
	PublicKeyJwk       json.RawMessage `json:"publicKeyJwk"`
}

// ParseDIDDocument reads the verification methods of a DID document published for did. The
// document must name did as its id. Methods of unknown types are skipped; relative method ids
// ("#key-1") are made absolute.
func ParseDIDDocument(did string, raw []byte) (*DIDDocument, error) {
	var d didDocumentJSON
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, reject(ReasonUnresolvableDID, "DID document of %s is not valid JSON", truncate(did))
	}
	if d.ID != did {
		return nil, reject(ReasonUnresolvableDID, "DID document is for %q, not %s", truncate(d.ID), truncate(did))
	}
	doc := &DIDDocument{ID: did}
	index := map[string]int{}
	add := func(raw json.RawMessage) (string, error) {
		var ref string
		if json.Unmarshal(raw, &ref) == nil {
			return absoluteID(did, ref), nil
		}
		var m methodJSON
		if err := json.Unmarshal(raw, &m); err != nil {
			return "", errors.New("a verification method is neither a reference nor an object")
		}
		vm, ok, err := m.decode(did)
		if err != nil || !ok {
			return "", err
		}
		if _, dup := index[vm.ID]; !dup {
			index[vm.ID] = len(doc.Methods)
			doc.Methods = append(doc.Methods, vm)
		}
		return vm.ID, nil
	}
	for _, list := range [][]json.RawMessage{d.VerificationMethod, d.PublicKey} {
		for _, raw := range list {
			if _, err := add(raw); err != nil {
				return nil, reject(ReasonUnresolvableDID, "DID document of %s: %v", truncate(did), err)
			}
		}
	}
	for _, rel := range []struct {
		list []json.RawMessage
		set  func(*VerificationMethod)
	}{
		{d.Authentication, func(m *VerificationMethod) { m.Authentication = true }},
		{d.AssertionMethod, func(m *VerificationMethod) { m.AssertionMethod = true }},
	} {
		for _, raw := range rel.list {
			id, err := add(raw)
			if err != nil {
				return nil, reject(ReasonUnresolvableDID, "DID document of %s: %v", truncate(did), err)
			}
			if i, ok := index[id]; ok {
				rel.set(&doc.Methods[i])
			}
		}
	}
	return doc, nil
}

func absoluteID(did, id string) string {
	if strings.HasPrefix(id, "#") {
		return did + id
	}
	return id
}

// decode returns the method, ok=false for key types the verifier does not use.
func (m methodJSON) decode(did string) (VerificationMethod, bool, error) {
	vm := VerificationMethod{ID: absoluteID(did, m.ID), Type: m.Type, Controller: m.Controller}
	if vm.ID == "" || !strings.HasPrefix(vm.ID, did+"#") {
		return vm, false, nil // only the DID's own keys can sign for it
	}
	var err error
	switch {
	case len(m.PublicKeyJwk) > 0 && string(m.PublicKeyJwk) != "null":
		vm.Curve, vm.PublicKey, err = parseJWK(m.PublicKeyJwk)
	case m.PublicKeyMultibase != "":
		vm.Curve, vm.PublicKey, err = decodeMultikey(m.PublicKeyMultibase)
		if err != nil && strings.HasPrefix(m.Type, "Ed25519VerificationKey") {
			// Some documents carry the bare key, without a multicodec prefix.
			if raw, derr := base58.Decode(strings.TrimPrefix(m.PublicKeyMultibase, "z")); derr == nil && len(raw) == ed25519.PublicKeySize {
				vm.Curve, vm.PublicKey, err = CurveEd25519, raw, nil
			}
		}
	case m.PublicKeyBase58 != "":
		var raw []byte
		if raw, err = base58.Decode(m.PublicKeyBase58); err != nil {
			return vm, false, errors.New("publicKeyBase58 is not base58")
		}
		switch {
		case strings.HasPrefix(m.Type, "Ed25519VerificationKey") && len(raw) == ed25519.PublicKeySize:
			vm.Curve, vm.PublicKey = CurveEd25519, raw
		case m.Type == "Bls12381G2Key2020" && len(raw) == 96:
			vm.Curve, vm.PublicKey = CurveBLS12381G2, raw
		default:
			return vm, false, nil
		}
	default:
		return vm, false, nil
	}
	if err != nil {
		// Key agreement keys and curves we do not verify with are not an error.
		return vm, false, nil
	}
	return vm, true, nil
}
