// Package issuer issues VerifiedCustomer credentials, and holds the development issuer: a
// fixed key that is published in this source code, so anyone can issue as it. The service
// trusts it only in development mode, and says so loudly when it does.
//
// issuer is used by the demo wallet, tests and the `hearro issuer` command; the service itself
// never issues (`hearro serve` only reads the development issuer's DID to trust it in
// development mode). It issues every format the verifier checks (JSON-LD with Ed25519 or BBS+
// proofs, VC-JWT, SD-JWT VC) and status list credentials. It depends only on identity and its
// sdjwt and status packages; no production package outside cmd depends on it
// (internal/demo/deps_test.go).
package issuer

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/piprate/json-gold/ld"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/sdjwt"
	"github.com/hearro/trustbroker/identity/status"
)

// developmentSeed derives the development issuer's key. It is public on purpose: credentials
// from this issuer prove nothing outside development.
const developmentSeed = "HearRo development issuer: this key is PUBLIC. Never trust it in production."

// Issuer signs credentials with an Ed25519 key, identified by its did:key, in every format
// the verifier checks; BBS+ credentials are signed with a BLS12-381 key derived from the same
// seed, which has its own did:key (BBSDID).
type Issuer struct {
	key    ed25519.PrivateKey
	did    string
	loader ld.DocumentLoader

	bbsOnce sync.Once
	bbsPub  []byte
	bbsPriv []byte
	bbsErr  error
}

// Development returns the development issuer, whose key everybody knows.
func Development() *Issuer {
	seed := sha256.Sum256([]byte(developmentSeed))
	return New(ed25519.NewKeyFromSeed(seed[:]))
}

// DevelopmentDID is the development issuer's DID.
func DevelopmentDID() string { return Development().DID() }

// DevelopmentBBSDID is the DID of the development issuer's BBS+ key. A development policy
// that accepts the bbs format trusts it next to DevelopmentDID.
func DevelopmentBBSDID() string {
	d, err := Development().BBSDID()
	if err != nil {
		panic(err) // key derivation from a fixed seed does not fail
	}
	return d
}

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
	// ProofType is Ed25519Signature2020 (default), Ed25519Signature2018 or
	// JsonWebSignature2020 (JSON-LD credentials only).
	ProofType string
	// Status, if set, adds a credentialStatus entry.
	Status *Status
}

// Status is where a credential's status is published.
type Status struct {
	// ListURL is the status list credential's URL; Index the credential's entry in it.
	ListURL string
	Index   int
	// Purpose is "revocation" (default) or "suspension".
	Purpose string
	// Bitstring selects a BitstringStatusListEntry (default: StatusList2021Entry).
	Bitstring bool
}

func (s *Status) entry() map[string]any {
	purpose := s.Purpose
	if purpose == "" {
		purpose = identity.StatusPurposeRevocation
	}
	typ := identity.StatusList2021Entry
	if s.Bitstring {
		typ = identity.BitstringStatusListEntry
	}
	return map[string]any{
		"id":                   fmt.Sprintf("%s#%d", s.ListURL, s.Index),
		"type":                 typ,
		"statusPurpose":        purpose,
		"statusListIndex":      fmt.Sprint(s.Index),
		"statusListCredential": s.ListURL,
	}
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
	contexts := []string{identity.CredentialsV1Context}
	switch opt.ProofType {
	case "Ed25519Signature2018": // the credentials context defines the 2018 suite
	case identity.ProofJsonWebSignature2020:
		contexts = append(contexts, identity.JWS2020Context)
	default:
		contexts = append(contexts, identity.Ed25519Signature2020Context)
	}
	if opt.Status != nil && !opt.Status.Bitstring {
		contexts = append(contexts, identity.StatusList2021Context)
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
	if opt.Status != nil {
		if opt.Status.Bitstring {
			return nil, errors.New("issue: Bitstring Status List entries need a VC Data Model 2.0 credential; use StatusList2021 here")
		}
		vc["credentialStatus"] = opt.Status.entry()
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

// checkClaims refuses claims the VerifiedCustomer context does not define.
func checkClaims(subjectDID string, claims map[string]string) error {
	if !strings.HasPrefix(subjectDID, "did:") {
		return errors.New("issue: subject must be a DID")
	}
	for name := range claims {
		if !slices.Contains(knownClaims, name) {
			return fmt.Errorf("issue: unknown claim %q", name)
		}
	}
	return nil
}

func defaults(opt *Options) {
	if opt.IssuedAt.IsZero() {
		opt.IssuedAt = time.Now()
	}
	if opt.ValidFor == 0 {
		opt.ValidFor = 365 * 24 * time.Hour
	}
}

// IssueJWT returns a VerifiedCustomer VC-JWT (VC Data Model 1.1 JWT encoding, EdDSA) for
// subjectDID.
func (i *Issuer) IssueJWT(subjectDID string, claims map[string]string, opt Options) (string, error) {
	if err := checkClaims(subjectDID, claims); err != nil {
		return "", err
	}
	defaults(&opt)
	subject := map[string]any{"id": subjectDID}
	for n, v := range claims {
		subject[n] = v
	}
	id := "urn:uuid:" + uuid.NewString()
	vc := map[string]any{
		"@context":          []string{identity.CredentialsV1Context, identity.VerifiedCustomerContext},
		"type":              []string{"VerifiableCredential", "VerifiedCustomer"},
		"credentialSubject": subject,
	}
	if opt.Status != nil {
		if !opt.Status.Bitstring {
			vc["@context"] = append(vc["@context"].([]string), identity.StatusList2021Context)
		}
		vc["credentialStatus"] = opt.Status.entry()
	}
	payload := map[string]any{
		"iss": i.did, "sub": subjectDID, "jti": id, "vc": vc,
		"iat": opt.IssuedAt.Unix(), "nbf": opt.IssuedAt.Unix(),
	}
	if opt.ValidFor > 0 {
		payload["exp"] = opt.IssuedAt.Add(opt.ValidFor).Unix()
	}
	return identity.SignJWT(map[string]any{"typ": "JWT", "kid": identity.DIDKeyMethod(i.key.Public().(ed25519.PublicKey))},
		payload, identity.Ed25519Signer(i.key))
}

// SDJWTType is the vct of the VerifiedCustomer SD-JWT VC: the credential type itself, so that
// a policy for VerifiedCustomer accepts it without listing an sd_jwt_vct.
const SDJWTType = "VerifiedCustomer"

// IssueSDJWT returns a VerifiedCustomer SD-JWT VC for subjectDID, every claim selectively
// disclosable, bound to holderKey (an Ed25519 or P-256 public key, in cnf.jwk). The result
// carries every disclosure and no key binding: the wallet chooses what to disclose.
func (i *Issuer) IssueSDJWT(subjectDID string, holderKey crypto.PublicKey, claims map[string]string, opt Options) (string, error) {
	if err := checkClaims(subjectDID, claims); err != nil {
		return "", err
	}
	defaults(&opt)
	jwk, err := identity.PublicJWK(holderKey)
	if err != nil {
		return "", fmt.Errorf("issue: holder key: %w", err)
	}
	var cnf map[string]any
	if err := json.Unmarshal(jwk, &cnf); err != nil {
		return "", err
	}
	payload := map[string]any{
		"iss": i.did, "sub": subjectDID, "vct": SDJWTType, "jti": "urn:uuid:" + uuid.NewString(),
		"iat": opt.IssuedAt.Unix(), "nbf": opt.IssuedAt.Unix(), "cnf": map[string]any{"jwk": cnf},
	}
	if opt.ValidFor > 0 {
		payload["exp"] = opt.IssuedAt.Add(opt.ValidFor).Unix()
	}
	names := make([]string, 0, len(claims))
	for n, v := range claims {
		payload[n] = v
		names = append(names, n)
	}
	sort.Strings(names)
	concealed, disclosures, err := sdjwt.Conceal(payload, names)
	if err != nil {
		return "", err
	}
	token, err := identity.SignJWT(map[string]any{"typ": identity.TypeSDJWTVC, "kid": identity.DIDKeyMethod(i.key.Public().(ed25519.PublicKey))},
		concealed, identity.Ed25519Signer(i.key))
	if err != nil {
		return "", err
	}
	list := make([]string, 0, len(names))
	for _, n := range names {
		list = append(list, disclosures[n])
	}
	return sdjwt.Join(token, list), nil
}

func (i *Issuer) bbsKey() ([]byte, []byte, error) {
	i.bbsOnce.Do(func() {
		seed := sha256.Sum256(append([]byte("bbs:"), i.key.Seed()...))
		i.bbsPub, i.bbsPriv, i.bbsErr = identity.NewBBSKey(seed[:])
	})
	return i.bbsPub, i.bbsPriv, i.bbsErr
}

// BBSDID returns the did:key of the issuer's BBS+ (BLS12-381 G2) key.
func (i *Issuer) BBSDID() (string, error) {
	pub, _, err := i.bbsKey()
	if err != nil {
		return "", err
	}
	return identity.DIDKeyBLS12381G2(pub), nil
}

// IssueBBS returns a VerifiedCustomer JSON-LD credential signed with BbsBlsSignature2020 by
// the issuer's BBS+ key, from which the holder derives selective disclosures.
func (i *Issuer) IssueBBS(subjectDID string, claims map[string]string, opt Options) ([]byte, error) {
	if err := checkClaims(subjectDID, claims); err != nil {
		return nil, err
	}
	defaults(&opt)
	_, priv, err := i.bbsKey()
	if err != nil {
		return nil, err
	}
	did, _ := i.BBSDID()
	subject := map[string]any{"id": subjectDID}
	for n, v := range claims {
		subject[n] = v
	}
	contexts := []string{identity.CredentialsV1Context, identity.BBSContext, identity.VerifiedCustomerContext}
	vc := map[string]any{
		"id":                "urn:uuid:" + uuid.NewString(),
		"type":              []string{"VerifiableCredential", "VerifiedCustomer"},
		"issuer":            did,
		"issuanceDate":      opt.IssuedAt.UTC().Format(time.RFC3339),
		"credentialSubject": subject,
	}
	if opt.ValidFor > 0 {
		vc["expirationDate"] = opt.IssuedAt.Add(opt.ValidFor).UTC().Format(time.RFC3339)
	}
	if opt.Status != nil {
		if !opt.Status.Bitstring {
			contexts = append(contexts, identity.StatusList2021Context)
		}
		vc["credentialStatus"] = opt.Status.entry()
	}
	vc["@context"] = contexts
	doc, err := json.Marshal(vc)
	if err != nil {
		return nil, err
	}
	return identity.SignLD(doc, identity.BBSSigner{PrivateKey: priv}, identity.LDProof{
		Type: identity.ProofBbsBlsSignature2020, VerificationMethod: identity.KeyMethodID(did),
		Purpose: "assertionMethod", Created: opt.IssuedAt,
	}, i.loader)
}

// StatusList returns a signed status list credential published at url: a
// StatusList2021Credential (JSON-LD, Ed25519Signature2020), or with bitstring a
// BitstringStatusListCredential (VC Data Model 2.0).
func (i *Issuer) StatusList(url, purpose string, list status.Bitstring, bitstring bool) ([]byte, error) {
	encoded, err := status.Encode(list, bitstring)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	vc := map[string]any{
		"id":     url,
		"issuer": i.did,
	}
	if bitstring {
		vc["@context"] = []string{identity.CredentialsV2Context, identity.Ed25519Signature2020Context}
		vc["type"] = []string{"VerifiableCredential", identity.BitstringStatusListCredential}
		vc["validFrom"] = now.Format(time.RFC3339)
		vc["credentialSubject"] = map[string]any{"id": url + "#list", "type": "BitstringStatusList", "statusPurpose": purpose, "encodedList": encoded}
	} else {
		vc["@context"] = []string{identity.CredentialsV1Context, identity.StatusList2021Context, identity.Ed25519Signature2020Context}
		vc["type"] = []string{"VerifiableCredential", identity.StatusList2021Credential}
		vc["issuanceDate"] = now.Format(time.RFC3339)
		vc["credentialSubject"] = map[string]any{"id": url + "#list", "type": "StatusList2021", "statusPurpose": purpose, "encodedList": encoded}
	}
	doc, err := json.Marshal(vc)
	if err != nil {
		return nil, err
	}
	return identity.SignLD(doc, identity.Ed25519Signer(i.key), identity.LDProof{
		VerificationMethod: identity.DIDKeyMethod(i.key.Public().(ed25519.PublicKey)), Purpose: "assertionMethod", Created: now,
	}, i.loader)
}
