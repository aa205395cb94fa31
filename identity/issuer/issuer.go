// Package issuer issues VerifiedCustomer credentials, and holds the development issuer: a
// fixed key that is published in this source code, so anyone can issue as it. The service
// trusts it only in development mode, and says so loudly when it does.
//
// issuer is used by the demo wallet and the `hearro issuer` command; the service itself never
// issues. It depends only on identity.
package issuer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/piprate/json-gold/ld"

	"github.com/hearro/trustbroker/identity"
)

// developmentSeed derives the development issuer's key. It is public on purpose: credentials
// from this issuer prove nothing outside development.
const developmentSeed = "HearRo development issuer: this key is PUBLIC. Never trust it in production."

// Issuer signs credentials with one Ed25519 key, identified by its did:key.
type Issuer struct {
	key    ed25519.PrivateKey
	did    string
	loader ld.DocumentLoader
}

// Development returns the development issuer, whose key everybody knows.
func Development() *Issuer {
	seed := sha256.Sum256([]byte(developmentSeed))
	return New(ed25519.NewKeyFromSeed(seed[:]))
}

// DevelopmentDID is the development issuer's DID.
func DevelopmentDID() string { return Development().DID() }

// Random returns an issuer with a fresh key nobody trusts (the wallet's --self-issued).
func Random() *Issuer {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return New(priv)
}

// New returns an issuer signing with key.
func New(key ed25519.PrivateKey) *Issuer {
	pub := key.Public().(ed25519.PublicKey)
	loader, err := identity.NewContextLoader()
	if err != nil {
		panic(err) // embedded contexts are valid JSON
	}
	return &Issuer{key: key, did: identity.DIDKey(pub), loader: loader}
}

// DID returns the issuer's DID.
func (i *Issuer) DID() string { return i.did }

// Claims the VerifiedCustomer context defines. Credentials may carry only these.
var knownClaims = []string{"givenName", "familyName", "memberId", "email", "telephone", "birthDate", "postalCode"}

// KnownClaims returns the claim names a VerifiedCustomer credential can carry.
func KnownClaims() []string { return slices.Clone(knownClaims) }

// ParseClaims parses "name=value,name=value" into claims, refusing names the credential's
// context does not define (they would not be signed).
func ParseClaims(s string) (map[string]string, error) {
	claims := map[string]string{}
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, value, ok := strings.Cut(pair, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("claim %q: want name=value", pair)
		}
		if !slices.Contains(knownClaims, name) {
			return nil, fmt.Errorf("claim %q: unknown; a VerifiedCustomer credential can carry %s", name, strings.Join(knownClaims, ", "))
		}
		claims[name] = strings.TrimSpace(value)
	}
	return claims, nil
}

// Options tune an issued credential.
type Options struct {
	// IssuedAt defaults to now; ValidFor to one year (negative: no expiry).
	IssuedAt time.Time
	ValidFor time.Duration
	// ProofType is Ed25519Signature2020 (default) or Ed25519Signature2018.
	ProofType string
}

// Issue returns a signed VerifiedCustomer credential for subjectDID with claims.
func (i *Issuer) Issue(subjectDID string, claims map[string]string, opt Options) ([]byte, error) {
	if !strings.HasPrefix(subjectDID, "did:") {
		return nil, errors.New("issue: subject must be a DID")
	}
	for name := range claims {
		if !slices.Contains(knownClaims, name) {
			return nil, fmt.Errorf("issue: unknown claim %q", name)
		}
	}
	if opt.IssuedAt.IsZero() {
		opt.IssuedAt = time.Now()
	}
	if opt.ValidFor == 0 {
		opt.ValidFor = 365 * 24 * time.Hour
	}
	subject := map[string]any{"id": subjectDID}
	names := make([]string, 0, len(claims))
	for n := range claims {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		subject[n] = claims[n]
	}
	contexts := []string{"https://www.w3.org/2018/credentials/v1"}
	if opt.ProofType != "Ed25519Signature2018" { // the credentials context defines the 2018 suite
		contexts = append(contexts, "https://w3id.org/security/suites/ed25519-2020/v1")
	}
	vc := map[string]any{
		"@context":          append(contexts, identity.VerifiedCustomerContext),
		"id":                "urn:uuid:" + uuid.NewString(),
		"type":              []string{"VerifiableCredential", "VerifiedCustomer"},
		"issuer":            i.did,
		"issuanceDate":      opt.IssuedAt.UTC().Format(time.RFC3339),
		"credentialSubject": subject,
	}
	if opt.ValidFor > 0 {
		vc["expirationDate"] = opt.IssuedAt.Add(opt.ValidFor).UTC().Format(time.RFC3339)
	}
	doc, err := json.Marshal(vc)
	if err != nil {
		return nil, err
	}
	return identity.SignLD(doc, identity.Ed25519Signer(i.key), identity.LDProof{
		Type:               opt.ProofType,
		VerificationMethod: identity.DIDKeyMethod(i.key.Public().(ed25519.PublicKey)),
		Purpose:            "assertionMethod",
		Created:            opt.IssuedAt,
	}, i.loader)
}
