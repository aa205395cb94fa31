package identity

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// Policy says what a presentation must prove for a session to be verified, and what of it the
// contact-centre agent may see. Policies are read-only once in use; a Verifier may check many
// presentations against one policy concurrently.
type Policy struct {
	// Name identifies the policy in the API (POST /v1/sessions {"policy": name}).
	Name string
	// CredentialType is the credential type that must be presented, e.g. "VerifiedCustomer".
	// With Credentials set, it is the first rule's type.
	CredentialType string
	// TrustedIssuers are the DIDs trusted to issue CredentialType (when Credentials is empty).
	TrustedIssuers []string
	// TrustedDomains are did:web domains trusted to issue CredentialType (when Credentials is
	// empty): "issuer.example.com" trusts did:web:issuer.example.com and every did:web under
	// it (did:web:issuer.example.com:branch:42); "*.example.com" trusts its subdomains.
	TrustedDomains []string
	// Credentials are the accepted credential types, each with its own trusted issuers. Empty:
	// one rule made of CredentialType, TrustedIssuers and TrustedDomains.
	Credentials []CredentialRule
	// Formats are the accepted credential formats; empty: all of Formats.
	Formats []Format
	// RequiredClaims must be present (and non-empty) in the credential subject.
	RequiredClaims []string
	// OptionalClaims are asked for (a selective-disclosure wallet may reveal them) but not
	// required.
	OptionalClaims []string
	// ClaimFilters constrain claim values (JSON Schema keywords a DIF presentation definition
	// carries as field filters); a present claim that fails its filter is refused.
	ClaimFilters map[string]ClaimFilter
	// DisplayClaims are the claims shown to the agent (sent to Twilio). Everything else stays
	// with this service.
	DisplayClaims []string
	// Assurance is the assurance level reported with a verification, e.g. "development".
	Assurance string
	// ClockSkew bounds how far clocks may disagree when checking validity periods; zero: the
	// verifier's default.
	ClockSkew time.Duration
	// MaxCredentialAge refuses credentials issued longer ago than this; zero: no limit.
	MaxCredentialAge time.Duration
	// Status says how credential status lists are used; empty: StatusFailClosed.
	Status StatusMode
	// Purpose is shown to the customer by their wallet.
	Purpose string
	// HolderDIDMethods are the DID methods a holder's DID may use; empty:
	// DefaultHolderDIDMethods, which resolve offline. A method that needs the network
	// ("web", or one a Universal Resolver serves) lets whoever presents make this service
	// fetch a document of their choosing: list it only if holders really use it.
	HolderDIDMethods []string
	// AllowInlineContexts accepts JSON-LD documents whose @context holds context definitions
	// of their own, not only URLs of the embedded contexts. Facts are read from the signed
	// statements either way; refusing inline contexts refuses the rewritten documents that
	// attacks on JSON-LD verifiers are made of.
	AllowInlineContexts bool
	// IssuerNames are the names the agent is shown for trusted issuers, by DID ("Example
	// Bank" for did:web:issuer.example-bank.com). An issuer without one is shown by its DID.
	IssuerNames map[string]string
	// DeleteConversationsOnErasure makes the erasure of a customer verified under this policy
	// delete their chats at the contact centre (Twilio Conversations), not only remove the
	// verification summary, pre-engagement data and their name from them.
	DeleteConversationsOnErasure bool
	// AnonCreds, if set, lets AnonCreds presentations satisfy the policy (see AnonCredsPolicy).
	AnonCreds *AnonCredsPolicy
}

// DefaultHolderDIDMethods are the DID methods a holder may use when a policy names none: the
// ones resolved offline.
var DefaultHolderDIDMethods = []string{"key", "jwk", "peer"}

// holderMethods returns the effective holder DID methods.
func (p *Policy) holderMethods() []string {
	if len(p.HolderDIDMethods) == 0 {
		return DefaultHolderDIDMethods
	}
	return p.HolderDIDMethods
}

// checkHolderMethod refuses a holder DID whose method the policy does not allow, before it is
// resolved.
func checkHolderMethod(holder string, p *Policy) error {
	method := DIDMethod(holder)
	if method == "" {
		return reject(ReasonHolderMismatch, "the holder %q is not a DID", truncate(holder))
	}
	if !slices.Contains(p.holderMethods(), method) {
		return reject(ReasonUnsupportedDIDMethod, "policy %q does not accept holders with did:%s DIDs", p.Name, truncate(method))
	}
	return nil
}

// StatusMode says what a policy does with credential status (StatusList2021, Bitstring Status
// List).
type StatusMode string

// Status modes.
const (
	// StatusFailClosed checks status; a list that cannot be fetched refuses the presentation
	// (status_unavailable). The default.
	StatusFailClosed StatusMode = "fail_closed"
	// StatusFailOpen checks status, but accepts a credential whose list cannot be fetched
	// (network failure, HTTP error, timeout). A list that is fetched but invalid still refuses.
	StatusFailOpen StatusMode = "fail_open"
	// StatusOff never consults status lists.
	StatusOff StatusMode = "off"
)

// CredentialRule is one credential type a policy accepts and who may issue it.
type CredentialRule struct {
	// Type is the credential type, e.g. "VerifiedCustomer".
	Type string
	// SDJWTTypes are the SD-JWT VC "vct" values that count as Type (an SD-JWT whose vct is
	// Type itself counts too).
	SDJWTTypes []string
	// TrustedIssuers are the issuer DIDs trusted for Type.
	TrustedIssuers []string
	// TrustedDomains are the did:web domains trusted for Type (see Policy.TrustedDomains).
	TrustedDomains []string
}

// Matches reports whether a credential with these types (for SD-JWT: its vct) is of the
// rule's type.
func (r CredentialRule) Matches(credTypes []string) bool {
	for _, t := range credTypes {
		if t == r.Type || slices.Contains(r.SDJWTTypes, t) {
			return true
		}
	}
	return false
}

// Trusts reports whether issuer may issue the rule's type: by exact DID, or as a did:web under
// a trusted domain.
func (r CredentialRule) Trusts(issuer string) bool {
	if slices.Contains(r.TrustedIssuers, issuer) {
		return true
	}
	if len(r.TrustedDomains) == 0 {
		return false
	}
	host := WebDomain(issuer)
	if host == "" {
		return false
	}
	for _, d := range r.TrustedDomains {
		d = strings.ToLower(d)
		if host == d || (strings.HasPrefix(d, "*.") && strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1) {
			return true
		}
	}
	return false
}

// Rules returns the policy's credential rules: Credentials, or the one rule of
// CredentialType, TrustedIssuers and TrustedDomains.
func (p *Policy) Rules() []CredentialRule {
	if len(p.Credentials) > 0 {
		return p.Credentials
	}
	return []CredentialRule{{Type: p.CredentialType, TrustedIssuers: p.TrustedIssuers, TrustedDomains: p.TrustedDomains}}
}

// AcceptsFormat reports whether the policy accepts credentials of format f.
func (p *Policy) AcceptsFormat(f Format) bool {
	return len(p.Formats) == 0 || slices.Contains(p.Formats, f)
}

// Validate reports the first problem with p.
func (p *Policy) Validate() error {
	switch {
	case p.Name == "":
		return fieldErrorf("name", "policy: name is empty")
	case p.ClockSkew < 0:
		return fieldErrorf("clock_skew", "policy %q: negative clock skew", p.Name)
	case p.MaxCredentialAge < 0:
		return fieldErrorf("max_credential_age", "policy %q: negative maximum credential age", p.Name)
	}
	rules := p.Rules()
	if p.AnonCreds != nil && len(p.Credentials) == 0 && p.CredentialType == "" {
		rules = nil // AnonCreds only: no W3C credential rule
	}
	for i, r := range rules {
		// A policy file always lists credentials; a policy built in Go may not.
		rule := ""
		if len(p.Credentials) > 0 {
			rule = fmt.Sprintf("credentials[%d]", i)
		}
		switch {
		case r.Type == "":
			return fieldErrorf(rule, "policy %q: credential type is empty", p.Name)
		case len(r.TrustedIssuers) == 0 && len(r.TrustedDomains) == 0:
			return fieldErrorf(rule, "policy %q: no trusted issuers for %s", p.Name, r.Type)
		}
		for j, iss := range r.TrustedIssuers {
			if _, _, err := splitDID(iss); err != nil {
				return fieldErrorf(subfield(rule, fmt.Sprintf("issuers[%d]", j)), "policy %q: trusted issuer %q is not a DID", p.Name, iss)
			}
		}
		for j, d := range r.TrustedDomains {
			if !validHost(strings.TrimPrefix(d, "*.")) || strings.Contains(d, "/") {
				return fieldErrorf(subfield(rule, fmt.Sprintf("issuer_domains[%d]", j)), "policy %q: trusted domain %q is not a host name", p.Name, d)
			}
		}
		for _, other := range rules[:i] {
			if other.Type == r.Type {
				return fieldErrorf(subfield(rule, "type"), "policy %q: credential type %s is listed twice", p.Name, r.Type)
			}
		}
	}
	if len(p.Credentials) > 0 && p.CredentialType != "" && p.CredentialType != p.Credentials[0].Type {
		return fmt.Errorf("policy %q: credential type %q is not the first credential rule's", p.Name, p.CredentialType)
	}
	for i, f := range p.Formats {
		if !slices.Contains(Formats, f) {
			return fieldErrorf(fmt.Sprintf("formats[%d]", i), "policy %q: unknown format %q (want one of %s)", p.Name, f, joinFormats(Formats))
		}
	}
	switch p.Status {
	case "", StatusFailClosed, StatusFailOpen, StatusOff:
	default:
		return fieldErrorf("status", "policy %q: unknown status mode %q (want fail_closed, fail_open or off)", p.Name, p.Status)
	}
	for i, m := range p.HolderDIDMethods {
		if m == "" || strings.ContainsAny(m, ": ") {
			return fieldErrorf(fmt.Sprintf("holder_did_methods[%d]", i), "policy %q: %q is not a DID method name (say \"web\", not \"did:web\")", p.Name, m)
		}
	}
	for _, did := range sortedKeys(p.IssuerNames) {
		field := subfield("issuer_names", "'"+did+"'") // quoted: a DID has colons
		if _, _, err := splitDID(did); err != nil {
			return fieldErrorf(field, "policy %q: issuer name key %q is not a DID", p.Name, did)
		}
		if err := checkIssuerName(p.IssuerNames[did]); err != nil {
			return fieldErrorf(field, "policy %q: name of issuer %s: %w", p.Name, did, err)
		}
	}
	if p.AnonCreds != nil {
		if err := p.AnonCreds.validate(p.Name); err != nil {
			return err
		}
	}
	for i, c := range p.DisplayClaims {
		if c == "id" {
			return fieldErrorf(fmt.Sprintf("display_claims[%d]", i), "policy %q: the subject id cannot be a display claim", p.Name)
		}
	}
	for _, name := range sortedKeys(p.ClaimFilters) {
		if err := p.ClaimFilters[name].validate(); err != nil {
			field := subfield("claim_filters", name)
			var fe *fieldError
			if errors.As(err, &fe) {
				field = subfield(field, fe.field)
			}
			return fieldErrorf(field, "policy %q: filter of claim %s: %w", p.Name, name, err)
		}
	}
	return nil
}

// fieldError is a policy error about one field, named by its path in a policy file
// ("credentials[0].issuers[1]"; "" when the policy has no such field), so that the error of
// a file can name the line of the offending key rather than the policy's.
type fieldError struct {
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func fieldErrorf(field, format string, args ...any) error {
	return &fieldError{field: field, err: fmt.Errorf(format, args...)}
}

// subfield joins a field path and a child; a child under no field has no path.
func subfield(parent, child string) string {
	if parent == "" {
		return ""
	}
	return parent + "." + child
}

func joinFormats(fs []Format) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = string(f)
	}
	return strings.Join(s, ", ")
}

// Trusts reports whether issuer may issue the policy's credential type.
func (p *Policy) Trusts(issuer string) bool {
	for _, r := range p.Rules() {
		if r.Type == p.CredentialType || p.CredentialType == "" {
			return r.Trusts(issuer)
		}
	}
	return false
}

// statusMode returns the effective status mode.
func (p *Policy) statusMode() StatusMode {
	if p.Status == "" {
		return StatusFailClosed
	}
	return p.Status
}

// DefaultClockSkew is the clock skew a policy gets when it does not set one.
const DefaultClockSkew = 2 * time.Minute

// maxIssuerName bounds an issuer's display name, in characters.
const maxIssuerName = 100

// checkIssuerName accepts a name an agent can be shown: not empty, at most maxIssuerName
// characters, no control characters.
func checkIssuerName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("empty")
	case utf8.RuneCountInString(name) > maxIssuerName:
		return fmt.Errorf("longer than %d characters", maxIssuerName)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return errors.New("contains a control character")
	}
	return nil
}

// DevelopmentPolicyName is the name of the built-in development policy.
const DevelopmentPolicyName = "default"

// DevelopmentPolicy is the built-in policy of development mode: a VerifiedCustomer credential
// from the development issuer (whose key is published, so it proves nothing outside
// development), with given name, family name and member id; the agent sees the names.
func DevelopmentPolicy(devIssuerDID string) *Policy {
	return &Policy{
		Name:           DevelopmentPolicyName,
		CredentialType: "VerifiedCustomer",
		TrustedIssuers: []string{devIssuerDID},
		RequiredClaims: []string{"givenName", "familyName", "memberId"},
		DisplayClaims:  []string{"givenName", "familyName"},
		Assurance:      "development",
		ClockSkew:      DefaultClockSkew,
		Purpose:        "Prove you are a verified customer so an agent can help you without security questions.",
		IssuerNames:    map[string]string{devIssuerDID: "HearRo development issuer"},
	}
}

// ClaimFilter constrains a claim's value with JSON Schema keywords (the subset DIF presentation
// definition filters use). Unset keywords do not constrain.
type ClaimFilter struct {
	// Type is "string", "number", "integer" or "boolean".
	Type string `json:"type,omitempty" yaml:"type,omitempty"`
	// Const is the only accepted value; Enum the accepted values.
	Const any   `json:"const,omitempty" yaml:"const,omitempty"`
	Enum  []any `json:"enum,omitempty" yaml:"enum,omitempty"`
	// Pattern is a regular expression (RE2 syntax) a string value must match.
	Pattern string `json:"pattern,omitempty" yaml:"pattern,omitempty"`
	// MinLength and MaxLength bound a string's length in characters.
	MinLength *int `json:"minLength,omitempty" yaml:"minLength,omitempty"`
	MaxLength *int `json:"maxLength,omitempty" yaml:"maxLength,omitempty"`
	// Minimum and Maximum bound a number.
	Minimum *float64 `json:"minimum,omitempty" yaml:"minimum,omitempty"`
	Maximum *float64 `json:"maximum,omitempty" yaml:"maximum,omitempty"`
}

var (
	patternMu    sync.Mutex
	patternCache = map[string]*regexp.Regexp{}
)

func compilePattern(p string) (*regexp.Regexp, error) {
	patternMu.Lock()
	defer patternMu.Unlock()
	if re, ok := patternCache[p]; ok {
		return re, nil
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	if len(patternCache) < 1024 {
		patternCache[p] = re
	}
	return re, nil
}

func (f ClaimFilter) validate() error {
	switch f.Type {
	case "", "string", "number", "integer", "boolean":
	default:
		return fieldErrorf("type", "unknown type %q", f.Type)
	}
	if f.Pattern != "" {
		if _, err := compilePattern(f.Pattern); err != nil {
			return fieldErrorf("pattern", "pattern: %w", err)
		}
	}
	return nil
}

// Check reports why v does not satisfy the filter. The error never quotes v.
func (f ClaimFilter) Check(v any) error {
	switch f.Type {
	case "string":
		if _, ok := v.(string); !ok {
			return errors.New("is not a string")
		}
	case "number":
		if _, ok := v.(float64); !ok {
			return errors.New("is not a number")
		}
	case "integer":
		if n, ok := v.(float64); !ok || n != math.Trunc(n) {
			return errors.New("is not an integer")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return errors.New("is not a boolean")
		}
	}
	if f.Const != nil && !jsonEqual(f.Const, v) {
		return errors.New("is not the required value")
	}
	if len(f.Enum) > 0 && !slices.ContainsFunc(f.Enum, func(e any) bool { return jsonEqual(e, v) }) {
		return errors.New("is not one of the accepted values")
	}
	if s, ok := v.(string); ok {
		n := len([]rune(s))
		if f.MinLength != nil && n < *f.MinLength {
			return errors.New("is too short")
		}
		if f.MaxLength != nil && n > *f.MaxLength {
			return errors.New("is too long")
		}
		if f.Pattern != "" {
			re, err := compilePattern(f.Pattern)
			if err != nil || !re.MatchString(s) {
				return errors.New("does not match the required pattern")
			}
		}
	} else if f.Pattern != "" || f.MinLength != nil || f.MaxLength != nil {
		return errors.New("is not a string")
	}
	if n, ok := v.(float64); ok {
		if f.Minimum != nil && n < *f.Minimum {
			return errors.New("is below the minimum")
		}
		if f.Maximum != nil && n > *f.Maximum {
			return errors.New("is above the maximum")
		}
	} else if f.Minimum != nil || f.Maximum != nil {
		return errors.New("is not a number")
	}
	return nil
}

// jsonEqual compares a policy value (from YAML or Go: ints, strings) with a claim value (from
// JSON: float64, string, bool).
func jsonEqual(want, got any) bool {
	switch w := want.(type) {
	case int:
		n, ok := got.(float64)
		return ok && n == float64(w)
	case int64:
		n, ok := got.(float64)
		return ok && n == float64(w)
	case uint64:
		n, ok := got.(float64)
		return ok && n == float64(w)
	case float64, string, bool:
		return want == got
	}
	return fmt.Sprint(want) == fmt.Sprint(got)
}

// schema returns the filter as a JSON Schema object for a presentation definition.
func (f ClaimFilter) schema() map[string]any {
	m := map[string]any{}
	if f.Type != "" {
		m["type"] = f.Type
	}
	if f.Const != nil {
		m["const"] = f.Const
	}
	if len(f.Enum) > 0 {
		m["enum"] = f.Enum
	}
	if f.Pattern != "" {
		m["pattern"] = f.Pattern
	}
	if f.MinLength != nil {
		m["minLength"] = *f.MinLength
	}
	if f.MaxLength != nil {
		m["maxLength"] = *f.MaxLength
	}
	if f.Minimum != nil {
		m["minimum"] = *f.Minimum
	}
	if f.Maximum != nil {
		m["maximum"] = *f.Maximum
	}
	return m
}

// PresentationDefinition is the DIF Presentation Exchange v2 definition asking for the
// policy's credential (https://identity.foundation/presentation-exchange/spec/v2.0.0/), in the
// formats the policy accepts. Each credential rule gets an input descriptor for its W3C forms
// (JSON-LD, BBS+, VC-JWT) and one for its SD-JWT VC form, each with its own format; with more
// than one descriptor the wallet picks one of them (a submission requirement "pick 1").
//
// The definition is what wallets check requests with (Sphereon PEX in Credo, ACA-Py's
// pres_exch): no input descriptor `schema` (v1 only, refused by v2's schema), and every field
// filter is a JSON Schema with a single `type`. The verifier does not rely on it: it checks
// the signed credential against the policy whatever the wallet says it submitted.
func (p *Policy) PresentationDefinition(id string) map[string]any {
	w3c := p.AcceptsFormat(FormatLDP) || p.AcceptsFormat(FormatBBS) || p.AcceptsFormat(FormatJWT)
	sd := p.AcceptsFormat(FormatSDJWT)
	var descriptors []map[string]any
	for i, r := range p.Rules() {
		if w3c {
			descriptors = append(descriptors, p.w3cDescriptor(descriptorID(i), r))
		}
		if sd {
			sdID := descriptorID(i)
			if w3c {
				sdID += "-sd-jwt"
			}
			descriptors = append(descriptors, p.sdJWTDescriptor(sdID, r))
		}
	}
	list := make([]any, len(descriptors))
	for i, d := range descriptors {
		if len(descriptors) > 1 {
			d["group"] = []string{"A"}
		}
		list[i] = d
	}
	def := map[string]any{
		"id":                id,
		"format":            p.definitionFormats(),
		"input_descriptors": list,
	}
	if len(descriptors) > 1 {
		def["submission_requirements"] = []any{map[string]any{"name": "one credential", "rule": "pick", "count": 1, "from": "A"}}
	}
	return def
}

// w3cDescriptor asks for rule r's credential as a W3C verifiable credential: its type in
// "type" (JSON-LD) or "vc.type" (VC-JWT), and the claims in its subject.
func (p *Policy) w3cDescriptor(id string, r CredentialRule) map[string]any {
	typePaths, subject := []string{"$.type"}, []string{"$.credentialSubject."}
	if p.AcceptsFormat(FormatJWT) {
		typePaths, subject = append(typePaths, "$.vc.type"), append(subject, "$.vc.credentialSubject.")
	}
	fields := []any{map[string]any{"path": typePaths,
		"filter": map[string]any{"type": "array", "contains": map[string]any{"const": r.Type}}}}
	fields = append(fields, p.claimFields(subject)...)
	formats := map[string]any{}
	for name, f := range p.definitionFormats() {
		if name == "ldp_vc" || name == "jwt_vc" { // the credential's own formats
			formats[name] = f
		}
	}
	return p.descriptor(id, r, formats, fields)
}

// sdJWTDescriptor asks for rule r's credential as an SD-JWT VC: its type in "vct" (the type
// name or one of the rule's vct URIs) and the claims at the top level.
func (p *Policy) sdJWTDescriptor(id string, r CredentialRule) map[string]any {
	fields := []any{map[string]any{"path": []string{"$.vct"},
		"filter": map[string]any{"type": "string", "enum": append([]string{r.Type}, r.SDJWTTypes...)}}}
	fields = append(fields, p.claimFields([]string{"$."})...)
	formats := map[string]any{FormatNameSDJWT: p.definitionFormats()[FormatNameSDJWT]}
	return p.descriptor(id, r, formats, fields)
}

func (p *Policy) descriptor(id string, r CredentialRule, formats map[string]any, fields []any) map[string]any {
	d := map[string]any{
		"id":          id,
		"name":        r.Type,
		"format":      formats,
		"constraints": map[string]any{"fields": fields},
	}
	if p.Purpose != "" {
		d["purpose"] = p.Purpose
	}
	return d
}

// claimFields are the fields of the required and optional claims, each at every prefix.
func (p *Policy) claimFields(prefixes []string) []any {
	var fields []any
	claim := func(c string, optional bool) {
		paths := make([]string, len(prefixes))
		for i, pre := range prefixes {
			paths[i] = pre + c
		}
		f := map[string]any{"path": paths}
		if filter, ok := p.ClaimFilters[c]; ok {
			f["filter"] = filter.schema()
		}
		if optional {
			f["optional"] = true
		}
		fields = append(fields, f)
	}
	for _, c := range p.RequiredClaims {
		claim(c, false)
	}
	for _, c := range p.OptionalClaims {
		claim(c, true)
	}
	return fields
}

func descriptorID(i int) string {
	if i == 0 {
		return InputDescriptorID
	}
	return fmt.Sprintf("%s-%d", InputDescriptorID, i+1)
}

func (p *Policy) definitionFormats() map[string]any {
	formats := map[string]any{}
	if p.AcceptsFormat(FormatLDP) || p.AcceptsFormat(FormatBBS) {
		vc := []string{}
		if p.AcceptsFormat(FormatLDP) {
			vc = append(vc, SupportedProofTypes...)
		}
		if p.AcceptsFormat(FormatBBS) {
			// The proof of the credential the wallet holds, from which it derives the
			// BbsBlsSignatureProof2020 it presents (the only BBS+ proof the verifier takes):
			// the identifier wallets and PEX know for "selective disclosure with BBS+".
			vc = append(vc, ProofBbsBlsSignature2020)
		}
		formats["ldp_vp"] = map[string]any{"proof_type": SupportedProofTypes}
		formats["ldp_vc"] = map[string]any{"proof_type": vc}
	}
	algs := []string{AlgEdDSA, AlgES256}
	if p.AcceptsFormat(FormatJWT) {
		formats["jwt_vp"] = map[string]any{"alg": algs}
		formats["jwt_vc"] = map[string]any{"alg": algs}
	}
	if p.AcceptsFormat(FormatSDJWT) {
		formats[FormatNameSDJWT] = map[string]any{"sd-jwt_alg_values": algs, "kb-jwt_alg_values": algs}
	}
	return formats
}

// InputDescriptorID is the id of the (first) input descriptor of every presentation
// definition this service sends.
const InputDescriptorID = "credential"

// Presentation Exchange format names (DIF claim format registry) of what the verifier accepts.
const (
	FormatNameLDPVP = "ldp_vp"
	FormatNameJWTVP = "jwt_vp"
	FormatNameSDJWT = "vc+sd-jwt"
)
