package identity

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hyperledger/aries-framework-go/component/models/ld/processor"
	"github.com/hyperledger/aries-framework-go/component/models/signature/signer"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/ed25519signature2018"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/ed25519signature2020"
	"github.com/piprate/json-gold/ld"
)

// Signer makes raw signatures; implementations may keep the key in a KMS.
type Signer interface {
	Sign(data []byte) ([]byte, error)
}

// Ed25519Signer signs with an in-memory Ed25519 private key.
type Ed25519Signer ed25519.PrivateKey

// Sign signs data.
func (k Ed25519Signer) Sign(data []byte) ([]byte, error) {
	return ed25519.Sign(ed25519.PrivateKey(k), data), nil
}

// LDProof describes the Data Integrity proof to add to a document.
type LDProof struct {
	// Type is Ed25519Signature2020 (default) or Ed25519Signature2018.
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

func (algSigner) Alg() string { return "EdDSA" }

// SignLD adds a Data Integrity proof to a JSON-LD document and returns the signed document.
// Every context the document uses must be known to loader.
func SignLD(doc []byte, s Signer, p LDProof, loader ld.DocumentLoader) ([]byte, error) {
	if p.VerificationMethod == "" || p.Purpose == "" {
		return nil, errors.New("sign: verification method and purpose are required")
	}
	if p.Type == "" {
		p.Type = "Ed25519Signature2020"
	}
	if p.Created.IsZero() {
		p.Created = time.Now()
	}
	created := p.Created.UTC().Truncate(time.Second)
	var st signer.SignatureSuite
	switch p.Type {
	case "Ed25519Signature2020":
		st = ed25519signature2020.New(suite.WithSigner(algSigner{s}))
	case "Ed25519Signature2018":
		st = ed25519signature2018.New(suite.WithSigner(algSigner{s}))
	default:
		return nil, fmt.Errorf("sign: unsupported proof type %q", p.Type)
	}
	signed, err := signer.New(st).Sign(&signer.Context{
		SignatureType:      p.Type,
		VerificationMethod: p.VerificationMethod,
		Purpose:            p.Purpose,
		Challenge:          p.Challenge,
		Domain:             p.Domain,
		Created:            &created,
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
