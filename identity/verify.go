package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/piprate/json-gold/ld"

	"github.com/hearro/trustbroker/identity/status"
	"github.com/hearro/trustbroker/internal/jsonlimit"
)

// Limits on untrusted input, applied before any parsing.
const (
	DefaultMaxPresentationSize = 512 << 10
	DefaultMaxJSONDepth        = 32
)

// Format is the format of a presented credential, as policies name it.
type Format string

// Credential formats the verifier checks.
const (
	// FormatLDP: a JSON-LD credential with a Data Integrity proof (Ed25519Signature2018,
	// Ed25519Signature2020, JsonWebSignature2020), in a JSON-LD presentation.
	FormatLDP Format = "ldp"
	// FormatBBS: a JSON-LD credential with a BBS+ proof (BbsBlsSignatureProof2020 derived from
	// BbsBlsSignature2020, revealing only some claims), in a JSON-LD presentation. The
	// underived BbsBlsSignature2020 credential is refused (see SupportedBBSProofTypes).
	FormatBBS Format = "bbs"
	// FormatJWT: a VC-JWT in a VP-JWT (JOSE, EdDSA or ES256).
	FormatJWT Format = "jwt"
	// FormatSDJWT: an SD-JWT VC with a key binding JWT.
	FormatSDJWT Format = "sd-jwt"
)

// Formats lists every credential format, in the order policies and documentation show them.
var Formats = []Format{FormatLDP, FormatBBS, FormatJWT, FormatSDJWT}

// VerifierConfig configures a Verifier. Zero values take the documented defaults.
type VerifierConfig struct {
	// Loader serves JSON-LD contexts; default NewContextLoader() (embedded only, never fetches).
	Loader ld.DocumentLoader
	// Resolver resolves DIDs; default OfflineMethods() (did:key, did:jwk, did:peer). Use
	// NewResolver for did:web and a Universal Resolver.
	Resolver Resolver
	// Status fetches status lists. Nil: a credential that names a status list cannot have its
	// status checked, and the policy's status mode decides (fail closed by default).
	Status *status.Fetcher
	// Replay remembers used challenges; default an in-memory guard (one process). Give every
	// replica the same shared guard.
	Replay ReplayGuard
	// ReplayWindow is how long a used challenge is remembered; default 24 hours.
	ReplayWindow time.Duration
	// ClockSkew is the clock skew allowed to policies that do not set one; default
	// DefaultClockSkew.
	ClockSkew time.Duration
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
// credential of a presentation that the policy uses is verified; challenge and domain are
// checked. Every JSON-LD fact it acts on is read from the statements the proof signs
// (signedGraph), never from the JSON, and nothing is resolved or fetched before the checks
// that need no network have passed (see Verify).
type Verifier struct {
	loader       ld.DocumentLoader
	canon        *canonicalizer
	vocab        *vocabulary
	known        func(url string) bool // nil: any URL the loader serves
	resolver     Resolver
	status       *status.Fetcher
	replay       ReplayGuard
	replayWindow time.Duration
	clockSkew    time.Duration
	now          func() time.Time
	maxSize      int
	maxDepth     int
}

// NewVerifier returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	v := &Verifier{loader: cfg.Loader, resolver: cfg.Resolver, status: cfg.Status, replay: cfg.Replay,
		replayWindow: cfg.ReplayWindow, clockSkew: cfg.ClockSkew, now: cfg.Now, maxSize: cfg.MaxSize, maxDepth: cfg.MaxDepth}
	if v.loader == nil {
		l, err := NewContextLoader()
		if err != nil {
			return nil, err
		}
		v.loader = l
	}
	v.canon = newCanonicalizer(v.loader)
	// The vocabulary is the embedded contexts' terms, whatever loader serves the documents.
	urls := defaultContextURLs
	if cl, ok := v.loader.(*ContextLoader); ok {
		urls, v.known = cl.URLs(), cl.Known
	}
	vocab, err := newVocabulary(v.loader, urls)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v.vocab = vocab
	if v.resolver == nil {
		v.resolver = OfflineMethods()
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.replay == nil {
		v.replay = NewMemoryReplayGuard(v.now)
	}
	if v.replayWindow <= 0 {
		v.replayWindow = 24 * time.Hour
	}
	if v.clockSkew <= 0 {
		v.clockSkew = DefaultClockSkew
	}
	if v.maxSize <= 0 {
		v.maxSize = DefaultMaxPresentationSize
	}
	if v.maxDepth <= 0 {
		v.maxDepth = DefaultMaxJSONDepth
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
	// Claims are the credential subject's claims, without its id. For selective disclosure
	// formats (bbs, sd-jwt) they are the disclosed claims only.
	Claims    map[string]any
	IssuedAt  time.Time
	ExpiresAt time.Time // zero: no expiry
	ProofType string
	// Format is the presented credential's format.
	Format Format
	// StatusChecked reports whether the credential's status list was consulted (false: it
	// names none, or the policy does not check, or the list was unreachable and the policy
	// fails open).
	StatusChecked bool
}

const (
	purposeAuthentication  = "authentication"
	purposeAssertionMethod = "assertionMethod"
)

// presented is a parsed presentation of any format whose cheap checks passed: structure,
// challenge and domain, which keys signed it, validity periods, subject binding. Nothing has
// been resolved or fetched yet.
type presented struct {
	holder string
	creds  []*presentedCredential
	// verifyHolder checks the holder's signature (the presentation's proof, or the key binding
	// JWT): it resolves the holder's DID.
	verifyHolder func(ctx context.Context) error
}

// presentedCredential is one credential of a presentation, in a format-independent form.
type presentedCredential struct {
	format Format
	id     string
	types  []string
	issuer string
	claims map[string]any
	// issuedAt is when it was issued (issuanceDate, validFrom, iat); validFrom and validUntil
	// bound its validity (zero: unbounded).
	issuedAt, validFrom, validUntil time.Time
	status                          []statusEntry
	proofType                       string
	// verify checks the issuer's signature: it resolves the issuer's DID.
	verify func(ctx context.Context) error
}

// Verify checks raw against req. raw is what a wallet put in the presentation submission
// attachment: a JSON-LD verifiable presentation; a VP-JWT (compact JWS), bare or as a JSON
// string; or an SD-JWT with key binding (issuer JWT~disclosures~KB-JWT), bare or as a JSON
// string.
//
// A refusal is a *RejectError naming the first check that failed; cheap checks run before
// signatures, and signatures before any network request for a status list, so a forged
// document costs little and cannot make the service fetch anything. Any other error is an
// internal failure.
func (v *Verifier) Verify(ctx context.Context, raw []byte, req Request) (*Result, error) {
	if req.Policy == nil {
		return nil, errors.New("verify: no policy")
	}
	if len(raw) > v.maxSize {
		return nil, reject(ReasonMalformed, "presentation is %d bytes, the limit is %d", len(raw), v.maxSize)
	}
	p, err := v.parse(raw, req)
	if err != nil {
		return nil, err
	}
	// Nothing has been resolved or fetched so far. The credentials the policy uses come
	// first: their issuers are ones it trusts, so theirs are the only DIDs worth resolving
	// before anything is proven. Then the holder, whom a verified credential now names as
	// its subject; then status lists, which only a verified credential can point to.
	used, target, rule, err := v.checkPolicy(p, req)
	if err != nil {
		return nil, err
	}
	for _, c := range used {
		if err := c.verify(ctx); err != nil {
			return nil, err
		}
	}
	if err := checkHolderMethod(p.holder, req.Policy); err != nil {
		return nil, err
	}
	if err := p.verifyHolder(ctx); err != nil {
		return nil, err
	}
	checked := false
	for _, c := range used {
		ok, err := v.checkStatus(ctx, c, req.Policy)
		if err != nil {
			return nil, err
		}
		if c == target {
			checked = ok
		}
	}
	if req.Challenge == "" {
		return nil, reject(ReasonChallengeMismatch, "the request has no challenge")
	}
	fresh, err := v.replay.Use(ctx, replayKey(req), v.now().Add(v.replayWindow))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, reject(ReasonReplayed, "this challenge was already answered")
	}
	return &Result{
		HolderDID:      p.holder,
		IssuerDID:      target.issuer,
		CredentialType: rule.Type,
		CredentialID:   target.id,
		Claims:         target.claims,
		IssuedAt:       target.issuedAt,
		ExpiresAt:      target.validUntil,
		ProofType:      target.proofType,
		Format:         target.format,
		StatusChecked:  checked,
	}, nil
}

// parse detects the format of raw and runs that format's cheap checks.
func (v *Verifier) parse(raw []byte, req Request) (*presented, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, reject(ReasonMalformed, "presentation is empty")
	}
	token := ""
	switch trimmed[0] {
	case '{', '[':
		if err := checkDepth(trimmed, v.maxDepth); err != nil {
			return nil, err
		}
		var top any
		if err := json.Unmarshal(trimmed, &top); err != nil {
			return nil, reject(ReasonMalformed, "presentation is not JSON: %v", jsonError(err))
		}
		vp, ok := top.(map[string]any)
		if !ok {
			return nil, reject(ReasonMalformed, "presentation is not a JSON object")
		}
		return v.parseLD(vp, req)
	case '"':
		if err := json.Unmarshal(trimmed, &token); err != nil {
			return nil, reject(ReasonMalformed, "presentation is not a JSON string: %v", jsonError(err))
		}
		token = strings.TrimSpace(token)
	default:
		token = string(trimmed)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c <= ' ' || c > '~' {
			return nil, reject(ReasonMalformed, "presentation is neither JSON nor a compact JWT")
		}
	}
	switch {
	case strings.Contains(token, "~"):
		return v.parseSDJWT(token, req)
	case strings.Count(token, ".") == 2:
		return v.parseJWTVP(token, req)
	case strings.Count(token, ".") == 4:
		return nil, reject(ReasonUnsupportedFormat, "encrypted (JWE) presentations are not supported")
	}
	return nil, reject(ReasonMalformed, "presentation is neither JSON nor a compact JWT")
}

// checkPolicy finds the credentials the policy asks for and checks what the policy demands of
// them, except status. It returns them (the ones to verify), the one the result is about, and
// the rule it satisfied. Credentials of types the policy does not ask for are ignored: never
// resolved, fetched or used; a credential of a type it asks for must be by an issuer it trusts
// for that type.
func (v *Verifier) checkPolicy(p *presented, req Request) (used []*presentedCredential, target *presentedCredential, rule CredentialRule, err error) {
	pol := req.Policy
	rules := pol.Rules()
	for _, c := range p.creds {
		if !pol.AcceptsFormat(c.format) {
			return nil, nil, rule, reject(ReasonFormatNotAllowed, "policy %q does not accept %s credentials", pol.Name, c.format)
		}
		for _, r := range rules {
			if !r.Matches(c.types) {
				continue
			}
			if !r.Trusts(c.issuer) {
				return nil, nil, rule, reject(ReasonUntrustedIssuer, "%s is not trusted to issue %s", truncate(c.issuer), r.Type)
			}
			used = append(used, c)
			if target == nil {
				target, rule = c, r
			}
			break
		}
	}
	if target == nil {
		want := make([]string, len(rules))
		for i, r := range rules {
			want[i] = r.Type
		}
		return nil, nil, rule, reject(ReasonMissingCredential, "no %s credential was presented", strings.Join(want, " or "))
	}
	var missing []string
	for _, name := range pol.RequiredClaims {
		if isEmpty(claimValue(target.claims, name)) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, nil, rule, reject(ReasonMissingClaim, "credential lacks %s", strings.Join(missing, ", "))
	}
	for _, name := range sortedKeys(pol.ClaimFilters) {
		val := claimValue(target.claims, name)
		if val == nil {
			continue // presence is RequiredClaims' business
		}
		if err := pol.ClaimFilters[name].Check(val); err != nil {
			return nil, nil, rule, reject(ReasonClaimConstraint, "claim %s: %v", name, err)
		}
	}
	if pol.MaxCredentialAge > 0 && target.issuedAt.IsZero() {
		// A credential that does not say when it was issued cannot show it is young enough.
		return nil, nil, rule, reject(ReasonCredentialTooOld, "credential has no issuance date, and the policy accepts credentials up to %s old", pol.MaxCredentialAge)
	}
	if pol.MaxCredentialAge > 0 && v.now().Sub(target.issuedAt) > pol.MaxCredentialAge+v.skew(pol) {
		return nil, nil, rule, reject(ReasonCredentialTooOld, "credential was issued %s ago, the policy accepts %s", v.now().Sub(target.issuedAt).Truncate(time.Second), pol.MaxCredentialAge)
	}
	return used, target, rule, nil
}

func (v *Verifier) skew(p *Policy) time.Duration {
	if p.ClockSkew > 0 {
		return p.ClockSkew
	}
	return v.clockSkew
}

// checkValidity checks a credential's validity period against the clock with the policy's skew.
func (v *Verifier) checkValidity(c *presentedCredential, p *Policy) error {
	now, skew := v.now(), v.skew(p)
	if !c.validFrom.IsZero() && c.validFrom.After(now.Add(skew)) {
		return reject(ReasonNotYetValid, "credential is valid from %s", c.validFrom.UTC().Format(time.RFC3339))
	}
	if !c.validUntil.IsZero() && !c.validUntil.After(now.Add(-skew)) {
		return reject(ReasonExpiredCredential, "credential expired at %s", c.validUntil.UTC().Format(time.RFC3339))
	}
	return nil
}

// subjectBound reports whether a credential subject id binds the credential to the holder.
func subjectBound(subjectID, holder string, req Request) bool {
	return subjectID != "" && (subjectID == holder || (req.ConnectionDID != "" && subjectID == req.ConnectionDID))
}

func replayKey(req Request) string { return ReplayKey(req.Domain, req.Challenge) }

// claimValue returns a claim by name; a dotted name ("address.postalCode") reaches into
// nested objects.
func claimValue(claims map[string]any, name string) any {
	if v, ok := claims[name]; ok {
		return v
	}
	var cur any = claims
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
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

// jsonError describes a JSON syntax error without quoting the input.
func jsonError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "syntax error at offset " + itoa(se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return "unexpected " + te.Value + " at offset " + itoa(te.Offset)
	}
	return "invalid JSON"
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// checkDepth refuses JSON nested deeper than max without building it.
func checkDepth(raw []byte, max int) error {
	if jsonlimit.TooDeep(raw, max) {
		return reject(ReasonMalformed, "JSON is nested deeper than %d levels", max)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
