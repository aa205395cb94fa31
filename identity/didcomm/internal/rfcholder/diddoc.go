package rfcholder

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mr-tron/base58"
)

// The holder's DID: a did:peer:1 (numalgo 1, "genesis document") whose document travels in
// the DID exchange request's did_doc~attach, signed by the DID's key. This is what Credo sends
// for DID Exchange 1.0, and the layout below is Credo's (createPeerDidDocumentFromServices):
// the Ed25519 key embedded in authentication as "#key-1", its X25519 twin in keyAgreement as
// "#key-2", and a did-communication service whose recipientKeys reference "#key-1".
//
// did:peer:1 = "did:peer:1" + multibase(base58btc, multihash(sha2-256, JSON of the document
// without its id)), per the peer DID method spec.

type peerDoc struct {
	Context        []string           `json:"@context"`
	ID             string             `json:"id,omitempty"`
	Service        []peerService      `json:"service"`
	Authentication []peerVerification `json:"authentication"`
	KeyAgreement   []peerVerification `json:"keyAgreement"`
}

type peerService struct {
	ID              string   `json:"id"`
	ServiceEndpoint string   `json:"serviceEndpoint"`
	Type            string   `json:"type"`
	Priority        int      `json:"priority"`
	RecipientKeys   []string `json:"recipientKeys"`
	RoutingKeys     []string `json:"routingKeys"`
}

type peerVerification struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	Controller      string `json:"controller"`
	PublicKeyBase58 string `json:"publicKeyBase58"`
}

// newPeerDID returns the did:peer:1 and its document (with id) for a DIDComm key and endpoint.
func newPeerDID(key ed25519.PublicKey, endpoint string) (string, []byte, error) {
	x, err := x25519Public(key)
	if err != nil {
		return "", nil, err
	}
	doc := peerDoc{
		Context: []string{"https://w3id.org/did/v1"},
		Service: []peerService{{
			ID: "#inline-0", ServiceEndpoint: endpoint, Type: "did-communication",
			RecipientKeys: []string{"#key-1"}, RoutingKeys: []string{},
		}},
		Authentication: []peerVerification{{ID: "#key-1", Type: "Ed25519VerificationKey2018", Controller: "#id", PublicKeyBase58: base58.Encode(key)}},
		KeyAgreement:   []peerVerification{{ID: "#key-2", Type: "X25519KeyAgreementKey2019", Controller: "#id", PublicKeyBase58: base58.Encode(x[:])}},
	}
	genesis, err := json.Marshal(doc)
	if err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(genesis)
	did := "did:peer:1z" + base58.Encode(append([]byte{0x12, 0x20}, sum[:]...)) // multihash: sha2-256, 32 bytes
	doc.ID = did
	withID, err := json.Marshal(doc)
	return did, withID, err
}

// DIDCommService is where and to whom messages for a DID go.
type DIDCommService struct {
	Endpoint     string
	RecipientKey ed25519.PublicKey
}

type rawDoc struct {
	ID                 string            `json:"id"`
	VerificationMethod []rawVM           `json:"verificationMethod"`
	PublicKey          []rawVM           `json:"publicKey"`
	Authentication     []json.RawMessage `json:"authentication"`
	Service            []rawService      `json:"service"`
}

type rawVM struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	PublicKeyBase58    string `json:"publicKeyBase58"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

type rawService struct {
	ID              string          `json:"id"`
	Type            json.RawMessage `json:"type"`
	Priority        *float64        `json:"priority"`
	RecipientKeys   []string        `json:"recipientKeys"`
	RoutingKeys     []string        `json:"routingKeys"`
	ServiceEndpoint json.RawMessage `json:"serviceEndpoint"`
}

// ParseDIDCommService reads a DID document (RFC 0067 conventions) and returns its id and its
// DIDComm v1 service: the did-communication (or legacy IndyAgent) service of lowest priority,
// its endpoint, and its first recipient key, resolved whether it is a did:key, a reference
// to a key of the document (relative or absolute), or a raw base58 verkey.
func ParseDIDCommService(doc []byte) (string, DIDCommService, error) {
	var d rawDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		return "", DIDCommService{}, fmt.Errorf("DID document: %w", err)
	}
	var best *rawService
	bestPriority := 0.0
	for i := range d.Service {
		s := &d.Service[i]
		if !hasType(s.Type, "did-communication") && !hasType(s.Type, "IndyAgent") {
			continue
		}
		p := 0.0
		if s.Priority != nil {
			p = *s.Priority
		}
		if best == nil || p < bestPriority {
			best, bestPriority = s, p
		}
	}
	if best == nil {
		return d.ID, DIDCommService{}, errors.New("DID document has no did-communication service")
	}
	if len(best.RoutingKeys) > 0 {
		return d.ID, DIDCommService{}, errors.New("DID document asks for routing (mediators): not supported by this holder")
	}
	endpoint, err := serviceURI(best.ServiceEndpoint)
	if err != nil {
		return d.ID, DIDCommService{}, err
	}
	if len(best.RecipientKeys) == 0 {
		return d.ID, DIDCommService{}, errors.New("did-communication service has no recipientKeys")
	}
	key, err := d.resolveKey(best.RecipientKeys[0])
	if err != nil {
		return d.ID, DIDCommService{}, err
	}
	return d.ID, DIDCommService{Endpoint: endpoint, RecipientKey: key}, nil
}

func hasType(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, t := range many {
			if t == want {
				return true
			}
		}
	}
	return false
}

func serviceURI(raw json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s, nil
	}
	var obj struct {
		URI string `json:"uri"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.URI != "" {
		return obj.URI, nil
	}
	return "", errors.New("did-communication service has no usable serviceEndpoint")
}

func (d *rawDoc) resolveKey(ref string) (ed25519.PublicKey, error) {
	if strings.HasPrefix(ref, "did:key:") {
		return ParseDIDKey(ref)
	}
	if !strings.Contains(ref, "#") {
		return parseVerkey(ref) // IndyAgent-style raw verkey
	}
	abs := ref
	if strings.HasPrefix(ref, "#") {
		abs = d.ID + ref
	}
	vms := append(append([]rawVM{}, d.VerificationMethod...), d.PublicKey...)
	for _, raw := range d.Authentication {
		var vm rawVM
		if json.Unmarshal(raw, &vm) == nil && vm.ID != "" {
			vms = append(vms, vm)
		}
	}
	for _, vm := range vms {
		id := vm.ID
		if strings.HasPrefix(id, "#") {
			id = d.ID + id
		}
		if id != abs {
			continue
		}
		switch vm.Type {
		case "Ed25519VerificationKey2018":
			return parseVerkey(vm.PublicKeyBase58)
		case "Ed25519VerificationKey2020":
			return ParseDIDKey("did:key:" + vm.PublicKeyMultibase)
		default:
			return nil, fmt.Errorf("recipient key %q has type %q, want an Ed25519 verification key", clip(ref), clip(vm.Type))
		}
	}
	return nil, fmt.Errorf("recipient key %q is not in the DID document", clip(ref))
}
