package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/aries-framework-go/component/models/ld/processor"
	"github.com/hyperledger/aries-framework-go/component/models/ld/proof"
	sigapi "github.com/hyperledger/aries-framework-go/component/models/signature/api"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/ed25519signature2018"
	"github.com/hyperledger/aries-framework-go/component/models/signature/suite/ed25519signature2020"
	docjsonld "github.com/hyperledger/aries-framework-go/pkg/doc/jsonld"
	"github.com/piprate/json-gold/ld"
)

// Limits on untrusted input, applied before any parsing.
const (
	DefaultMaxPresentationSize = 512 << 10
	DefaultMaxJSONDepth        = 32
)

// VerifierConfig configures a Verifier. Zero values take the documented defaults.
type VerifierConfig struct {
	// Loader serves JSON-LD contexts; default NewContextLoader() (embedded only, never fetches).
	Loader ld.DocumentLoader
	// Resolver resolves DIDs; default KeyResolver (did:key).
	Resolver Resolver
	// Now is the clock; default time.Now.
	Now func() time.Time
	// MaxSize bounds a presentation's size in bytes; default DefaultMaxPresentationSize.
	MaxSize int
	// MaxDepth bounds JSON nesting; default DefaultMaxJSONDepth.
	MaxDepth int
}

// Verifier checks presentations against a policy. It is safe for concurrent use.
//
// It closes, itself, the holes aries-framework-go leaves to its callers (see AFG-NOTES):
// a document without a proof is refused; a proof's key must belong to the issuer (credential)
// or holder (presentation) and be authorised for that purpose, matched by exact id; every
// credential inside a presentation is verified; challenge and domain are checked.
type Verifier struct {
	loader   ld.DocumentLoader
	resolver Resolver
	now      func() time.Time
	maxSize  int
	maxDepth int
	suites   []sigapi.SignatureSuite
}

// NewVerifier returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{loader: cfg.Loader, resolver: cfg.Resolver, now: cfg.Now, maxSize: cfg.MaxSize, maxDepth: cfg.MaxDepth}
	if v.loader == nil {
		l, err := NewContextLoader()
		if err != nil {
			return nil, err
		}
		v.loader = l
	}
	if v.resolver == nil {
		v.resolver = KeyResolver{}
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.maxSize <= 0 {
		v.maxSize = DefaultMaxPresentationSize
	}
	if v.maxDepth <= 0 {
		v.maxDepth = DefaultMaxJSONDepth
	}
	v.suites = []sigapi.SignatureSuite{
		ed25519signature2020.New(suite.WithVerifier(ed25519signature2020.NewPublicKeyVerifier())),
		ed25519signature2018.New(suite.WithVerifier(ed25519signature2018.NewPublicKeyVerifier())),
	}
	return v, nil
}

// Request is what a presentation must satisfy.
type Request struct {
	Policy *Policy
	// Challenge is the session nonce the presentation proof must carry.
	Challenge string
	// Domain is this service's identifier the presentation proof must carry.
	Domain string
	// ConnectionDID, if set, is the DIDComm connection's DID of the holder: a credential whose
	// subject is that DID is bound to the holder too.
	ConnectionDID string
}

// Result is a verified presentation: who the holder is and what the credential says.
type Result struct {
	HolderDID      string
	IssuerDID      string
	CredentialType string
	CredentialID   string
	// Claims are the credential subject's claims, without its id.
	Claims    map[string]any
	IssuedAt  time.Time
	ExpiresAt time.Time // zero: no expiry
	ProofType string
}

const (
	purposeAuthentication  = "authentication"
	purposeAssertionMethod = "assertionMethod"
)

// Verify checks raw (a JSON-LD verifiable presentation) against req. A refusal is a
// *RejectError naming the first check that failed; cheap checks run before signatures, so a
// forged document costs little. Any other error is an internal failure.
func (v *Verifier) Verify(ctx context.Context, raw []byte, req Request) (*Result, error) {
	if req.Policy == nil {
		return nil, errors.New("verify: no policy")
	}
	if len(raw) > v.maxSize {
		return nil, reject(ReasonMalformed, "presentation is %d bytes, the limit is %d", len(raw), v.maxSize)
	}
	if err := checkDepth(raw, v.maxDepth); err != nil {
		return nil, err
	}
	var top any
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, reject(ReasonMalformed, "presentation is not JSON: %v", err)
	}
	vp, ok := top.(map[string]any)
	if !ok {
		if _, isString := top.(string); isString {
			return nil, reject(ReasonUnsupportedFormat, "JWT presentations are not supported")
		}
		return nil, reject(ReasonMalformed, "presentation is not a JSON object")
	}
	if !slices.Contains(types(vp), "VerifiablePresentation") {
		return nil, reject(ReasonMalformed, "type does not include VerifiablePresentation")
	}
	holder, _ := vp["holder"].(string)
	if holder == "" {
		return nil, reject(ReasonHolderMismatch, "presentation names no holder")
	}

	vpProofs, err := v.proofs(vp, "presentation")
	if err != nil {
		return nil, err
	}
	for _, p := range vpProofs {
		if p.ProofPurpose != purposeAuthentication {
			return nil, reject(ReasonMalformed, "presentation proof purpose is %q, want %q", truncate(p.ProofPurpose), purposeAuthentication)
		}
		if p.Challenge != req.Challenge {
			return nil, reject(ReasonChallengeMismatch, "presentation proof challenge is not this session's")
		}
		if p.Domain != req.Domain {
			return nil, reject(ReasonDomainMismatch, "presentation proof domain is %q, want %q", truncate(p.Domain), req.Domain)
		}
		if didOf(p.VerificationMethod) != holder {
			return nil, reject(ReasonHolderMismatch, "presentation is signed by %s, not by its holder", truncate(p.VerificationMethod))
		}
	}

	vcs, err := credentials(vp)
	if err != nil {
		return nil, err
	}
	checked := make([]checkedCredential, 0, len(vcs))
	var target *checkedCredential
	for _, vc := range vcs {
		c, err := v.checkCredential(vc, holder, req)
		if err != nil {
			return nil, err
		}
		checked = append(checked, c)
		if target == nil && slices.Contains(c.types, req.Policy.CredentialType) {
			target = &checked[len(checked)-1]
		}
	}
	if target == nil {
		return nil, reject(ReasonMissingCredential, "no %s credential was presented", req.Policy.CredentialType)
	}
	if !req.Policy.Trusts(target.issuer) {
		return nil, reject(ReasonUntrustedIssuer, "%s is not trusted to issue %s", truncate(target.issuer), req.Policy.CredentialType)
	}
	var missing []string
	for _, name := range req.Policy.RequiredClaims {
		if isEmpty(target.claims[name]) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, reject(ReasonMissingClaim, "credential lacks %s", strings.Join(missing, ", "))
	}

	// Structure and vocabulary: every term must be defined by a known context, otherwise it
	// is silently left out of the signed data and could be changed at will.
	vpOnly := make(map[string]any, len(vp))
	for k, val := range vp {
		if k != "verifiableCredential" {
			vpOnly[k] = val
		}
	}
	if err := v.validateJSONLD(vpOnly, "presentation"); err != nil {
		return nil, err
	}
	for _, c := range checked {
		if err := v.validateJSONLD(c.doc, "credential"); err != nil {
			return nil, err
		}
	}

	// Signatures: the holder's over the presentation, each issuer's over its credential.
	if err := v.checkProofs(ctx, vp, vpProofs, holder, purposeAuthentication, ReasonHolderMismatch); err != nil {
		return nil, err
	}
	for _, c := range checked {
		if err := v.checkProofs(ctx, c.doc, c.proofs, c.issuer, purposeAssertionMethod, ReasonIssuerMismatch); err != nil {
			return nil, err
		}
	}

	return &Result{
		HolderDID:      holder,
		IssuerDID:      target.issuer,
		CredentialType: req.Policy.CredentialType,
		CredentialID:   target.id,
		Claims:         target.claims,
		IssuedAt:       target.validFrom,
		ExpiresAt:      target.validUntil,
		ProofType:      target.proofs[0].Type,
	}, nil
}

type checkedCredential struct {
	doc        map[string]any
	id         string
	types      []string
	issuer     string
	claims     map[string]any
	validFrom  time.Time
	validUntil time.Time
	proofs     []*proof.Proof
}

// checkCredential runs every check of one credential that needs no cryptography.
func (v *Verifier) checkCredential(vc map[string]any, holder string, req Request) (checkedCredential, error) {
	c := checkedCredential{doc: vc, types: types(vc)}
	if !slices.Contains(c.types, "VerifiableCredential") {
		return c, reject(ReasonMalformed, "credential type does not include VerifiableCredential")
	}
	c.id, _ = vc["id"].(string)
	switch iss := vc["issuer"].(type) {
	case string:
		c.issuer = iss
	case map[string]any:
		c.issuer, _ = iss["id"].(string)
	}
	if c.issuer == "" {
		return c, reject(ReasonMalformed, "credential has no issuer")
	}
	proofs, err := v.proofs(vc, "credential")
	if err != nil {
		return c, err
	}
	for _, p := range proofs {
		if p.ProofPurpose != purposeAssertionMethod {
			return c, reject(ReasonMalformed, "credential proof purpose is %q, want %q", truncate(p.ProofPurpose), purposeAssertionMethod)
		}
		if didOf(p.VerificationMethod) != c.issuer {
			return c, reject(ReasonIssuerMismatch, "credential is signed by %s, not by its issuer", truncate(p.VerificationMethod))
		}
	}
	c.proofs = proofs

	now := v.now()
	skew := req.Policy.ClockSkew
	if c.validFrom, err = timeField(vc, "issuanceDate", "validFrom"); err != nil {
		return c, err
	}
	if c.validFrom.IsZero() {
		return c, reject(ReasonMalformed, "credential has no issuanceDate")
	}
	if c.validFrom.After(now.Add(skew)) {
		return c, reject(ReasonNotYetValid, "credential is valid from %s", c.validFrom.Format(time.RFC3339))
	}
	if c.validUntil, err = timeField(vc, "expirationDate", "validUntil"); err != nil {
		return c, err
	}
	if !c.validUntil.IsZero() && !c.validUntil.After(now.Add(-skew)) {
		return c, reject(ReasonExpiredCredential, "credential expired at %s", c.validUntil.Format(time.RFC3339))
	}

	subject, ok := vc["credentialSubject"].(map[string]any)
	if !ok {
		if list, isList := vc["credentialSubject"].([]any); isList && len(list) == 1 {
			subject, ok = list[0].(map[string]any)
		}
	}
	if !ok {
		return c, reject(ReasonMalformed, "credential has no single credentialSubject object")
	}
	subjectID, _ := subject["id"].(string)
	if subjectID == "" || (subjectID != holder && (req.ConnectionDID == "" || subjectID != req.ConnectionDID)) {
		return c, reject(ReasonHolderMismatch, "credential subject is not the presentation's holder")
	}
	c.claims = make(map[string]any, len(subject))
	for k, val := range subject {
		if k != "id" {
			c.claims[k] = val
		}
	}
	return c, nil
}

// proofs returns the document's proofs, refusing documents without one and proof types the
// verifier does not support.
func (v *Verifier) proofs(doc map[string]any, what string) ([]*proof.Proof, error) {
	raw, ok := doc["proof"]
	if !ok {
		return nil, reject(ReasonMissingProof, "%s has no proof", what)
	}
	// The proof type decides how its value is decoded: check it first.
	entries, _ := raw.([]any)
	if m, isMap := raw.(map[string]any); isMap {
		entries = []any{m}
	}
	for _, e := range entries {
		if m, isMap := e.(map[string]any); isMap {
			if t, _ := m["type"].(string); !slices.Contains(SupportedProofTypes, t) {
				return nil, reject(ReasonUnsupportedFormat, "%s proof type %q is not supported", what, truncate(t))
			}
		}
	}
	ps, err := proof.GetProofs(doc)
	if err != nil {
		return nil, reject(ReasonMalformed, "%s proof: %v", what, err)
	}
	if len(ps) == 0 {
		return nil, reject(ReasonMissingProof, "%s has no proof", what)
	}
	for _, p := range ps {
		if !slices.Contains(SupportedProofTypes, p.Type) {
			return nil, reject(ReasonUnsupportedFormat, "%s proof type %q is not supported", what, truncate(p.Type))
		}
		if p.VerificationMethod == "" {
			return nil, reject(ReasonMalformed, "%s proof has no verificationMethod", what)
		}
	}
	return ps, nil
}

func (v *Verifier) validateJSONLD(doc map[string]any, what string) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("re-encode %s: %w", what, err)
	}
	if err := docjsonld.ValidateJSONLD(string(b), docjsonld.WithDocumentLoader(v.loader)); err != nil {
		return reject(ReasonMalformed, "%s is not valid JSON-LD with known contexts: %v", what, err)
	}
	return nil
}

// checkProofs verifies every proof of doc with keys of signer authorised for purpose.
func (v *Verifier) checkProofs(ctx context.Context, doc map[string]any, proofs []*proof.Proof, signer, purpose string, mismatch Reason) error {
	keys := proofKeys{ctx: ctx, resolver: v.resolver, did: signer, purpose: purpose, mismatch: mismatch}
	opts := []processor.Opts{processor.WithDocumentLoader(v.loader), processor.WithValidateRDF()}
	for _, p := range proofs {
		pub, err := keys.resolve(p.VerificationMethod)
		if err != nil {
			return err
		}
		s := v.suite(p.Type)
		data, err := proof.CreateVerifyData(s, doc, p, opts...)
		if err != nil {
			return reject(ReasonMalformed, "canonicalise for %s: %v", p.Type, err)
		}
		sig := p.ProofValue
		if p.SignatureRepresentation == proof.SignatureJWS {
			if sig, err = proof.GetJWTSignature(p.JWS); err != nil {
				return reject(ReasonMalformed, "proof jws: %v", err)
			}
		}
		if err := s.Verify(pub, data, sig); err != nil {
			return reject(ReasonBadSignature, "%s by %s does not verify", p.Type, truncate(p.VerificationMethod))
		}
	}
	return nil
}

func (v *Verifier) suite(proofType string) sigapi.SignatureSuite {
	for _, s := range v.suites {
		if s.Accept(proofType) {
			return s
		}
	}
	return nil // unreachable: proofs() admits supported types only
}

// proofKeys resolves the key a proof names, and only if it belongs to the expected signer and
// is authorised for the proof's purpose.
type proofKeys struct {
	ctx      context.Context
	resolver Resolver
	did      string
	purpose  string
	mismatch Reason
}

func (k proofKeys) resolve(methodID string) (*sigapi.PublicKey, error) {
	if didOf(methodID) != k.did || !strings.Contains(methodID, "#") {
		return nil, reject(k.mismatch, "key %s does not belong to %s", truncate(methodID), truncate(k.did))
	}
	doc, err := k.resolver.Resolve(k.ctx, k.did)
	if err != nil {
		return nil, err
	}
	m, ok := doc.Method(methodID)
	if !ok {
		// A relative reference (#key-1) in the document is also an exact match.
		frag := methodID[strings.Index(methodID, "#"):]
		if m, ok = doc.Method(frag); !ok {
			return nil, reject(ReasonUnresolvableDID, "%s has no key %s", truncate(k.did), truncate(methodID))
		}
	}
	if (k.purpose == purposeAuthentication && !m.Authentication) || (k.purpose == purposeAssertionMethod && !m.AssertionMethod) {
		return nil, reject(k.mismatch, "key %s is not authorised for %s", truncate(methodID), k.purpose)
	}
	return &sigapi.PublicKey{Type: m.Type, Value: m.PublicKey}, nil
}

// didOf returns the DID part of a DID URL.
func didOf(didURL string) string {
	if i := strings.IndexAny(didURL, "#?/"); i >= 0 && strings.HasPrefix(didURL, "did:") {
		// did:method:id#frag — cut at the first fragment/query/path delimiter after the method.
		return didURL[:i]
	}
	return didURL
}

func types(doc map[string]any) []string {
	switch t := doc["type"].(type) {
	case string:
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func credentials(vp map[string]any) ([]map[string]any, error) {
	var list []any
	switch c := vp["verifiableCredential"].(type) {
	case nil:
		return nil, reject(ReasonMissingCredential, "presentation carries no credential")
	case map[string]any:
		list = []any{c}
	case []any:
		list = c
	case string:
		return nil, reject(ReasonUnsupportedFormat, "JWT credentials are not supported")
	default:
		return nil, reject(ReasonMalformed, "verifiableCredential is neither an object nor an array")
	}
	if len(list) == 0 {
		return nil, reject(ReasonMissingCredential, "presentation carries no credential")
	}
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		switch vc := e.(type) {
		case map[string]any:
			out = append(out, vc)
		case string:
			return nil, reject(ReasonUnsupportedFormat, "JWT credentials are not supported")
		default:
			return nil, reject(ReasonMalformed, "a credential is not a JSON object")
		}
	}
	return out, nil
}

func timeField(doc map[string]any, names ...string) (time.Time, error) {
	for _, n := range names {
		raw, ok := doc[n]
		if !ok {
			continue
		}
		s, ok := raw.(string)
		if !ok {
			return time.Time{}, reject(ReasonMalformed, "%s is not a string", n)
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, reject(ReasonMalformed, "%s is not an RFC 3339 date-time", n)
		}
		return t, nil
	}
	return time.Time{}, nil
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

// checkDepth refuses JSON nested deeper than max without building it.
func checkDepth(raw []byte, max int) error {
	depth, inString, escaped := 0, false, false
	for _, b := range raw {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '{' || b == '[':
			depth++
			if depth > max {
				return reject(ReasonMalformed, "JSON is nested deeper than %d levels", max)
			}
		case b == '}' || b == ']':
			depth--
		}
	}
	return nil
}
