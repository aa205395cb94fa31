package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/hearro/trustbroker/identity/anoncreds"
	"github.com/hearro/trustbroker/identity/anoncreds/registry"
)

// FormatAnonCreds is the format of an AnonCreds (CL-signature) presentation, as results name
// it. A policy accepts AnonCreds presentations when it has an AnonCreds section; it is not in
// Formats, which lists the W3C and SD-JWT formats a presentation definition asks for.
const FormatAnonCreds Format = "anoncreds"

// AnonCredsPolicy is what a policy asks of an AnonCreds presentation: which credentials are
// trusted (restrictions), which attributes are revealed, which predicates are proven, and
// what the agent may see. The zero value asks nothing and is invalid.
//
// In a policy file:
//
//	anoncreds:
//	  issuers: [did:sov:WgWxqztrNooG92RXvxSTWv]   # shorthand for restrictions [{issuer_did: …}]
//	  restrictions:                     # OR of AND-sets; each names an issuer or a credential definition
//	    - issuer_did: did:indy:sovrin:WpoQirzsNJK2MUZh3NtbF2
//	      schema_name: hearro-id
//	      schema_version: "1.0"
//	    - cred_def_id: WgWxqztrNooG92RXvxSTWv:3:CL:20:demo
//	  attributes:
//	    - name: given_name              # restrictions default to the section's
//	    - names: [family_name, member_id]
//	      restrictions: [{cred_def_id: WgWxqztrNooG92RXvxSTWv:3:CL:20:demo}]
//	  predicates:
//	    - {attribute: birthdate_dateint, p_type: "<=", p_value: 20081205}
//	    - {attribute: birthdate_dateint, age_at_least: 18}   # <= today (UTC) 18 years ago, as YYYYMMDD
//	  non_revoked: not_required         # required | not_required (default)
//	  display_claims: [given_name]      # revealed attributes the agent sees
//
// Issuers are DIDs. A legacy Indy identifier ("<nym>:3:CL:…") is issued by did:sov:<nym>;
// a did:indy identifier by its did:indy DID. The policy's issuer_names name AnonCreds issuers
// by the same DIDs.
type AnonCredsPolicy struct {
	// Issuers are trusted issuer DIDs: each is the restriction {issuer_did: DID}.
	Issuers []string `yaml:"issuers"`
	// Restrictions are the trusted credentials: a credential is trusted when it meets every
	// member of at least one of them (Issuers included).
	Restrictions []AnonCredsRestriction `yaml:"restrictions"`
	// Attributes are the requested attributes, each revealed.
	Attributes []AnonCredsAttribute `yaml:"attributes"`
	// Predicates are the requested predicates.
	Predicates []AnonCredsPredicate `yaml:"predicates"`
	// NonRevoked is NonRevokedRequired or NonRevokedNotRequired ("": not required).
	NonRevoked NonRevokedMode `yaml:"non_revoked"`
	// DisplayClaims are the revealed attributes shown to the agent (sent to Twilio).
	DisplayClaims []string `yaml:"display_claims"`
}

// NonRevokedMode says whether a policy asks for proof of non-revocation.
type NonRevokedMode string

// Non-revocation modes.
const (
	// NonRevokedRequired asks for non-revocation. This service cannot verify AnonCreds
	// non-revocation proofs (see package anoncreds), so a credential of a revocable credential
	// definition is refused (ReasonRevocationUnsupported); a non-revocable one is accepted.
	NonRevokedRequired NonRevokedMode = "required"
	// NonRevokedNotRequired does not ask; revocable credentials are accepted unchecked.
	NonRevokedNotRequired NonRevokedMode = "not_required"
)

// AnonCredsRestriction is one AND-set of an AnonCreds restriction: every member set must
// hold. Each names an issuer (IssuerDID) or a credential definition (CredDefID): a schema
// alone says nothing about who signed.
type AnonCredsRestriction struct {
	IssuerDID       string `yaml:"issuer_did,omitempty" json:"issuer_did,omitempty"`
	CredDefID       string `yaml:"cred_def_id,omitempty" json:"cred_def_id,omitempty"`
	SchemaID        string `yaml:"schema_id,omitempty" json:"schema_id,omitempty"`
	SchemaIssuerDID string `yaml:"schema_issuer_did,omitempty" json:"schema_issuer_did,omitempty"`
	SchemaName      string `yaml:"schema_name,omitempty" json:"schema_name,omitempty"`
	SchemaVersion   string `yaml:"schema_version,omitempty" json:"schema_version,omitempty"`
}

// AnonCredsAttribute is a requested attribute: one (Name) or a group from one credential
// (Names). Restrictions empty: the policy's.
type AnonCredsAttribute struct {
	Name         string                 `yaml:"name"`
	Names        []string               `yaml:"names"`
	Restrictions []AnonCredsRestriction `yaml:"restrictions"`
}

// AnonCredsPredicate is a requested predicate: Attribute PType PValue, or, with AgeAtLeast,
// Attribute <= the date (UTC, as the integer YYYYMMDD) AgeAtLeast years before the request.
// Restrictions empty: the policy's.
type AnonCredsPredicate struct {
	Attribute    string                 `yaml:"attribute"`
	PType        string                 `yaml:"p_type"`
	PValue       *int32                 `yaml:"p_value"`
	AgeAtLeast   int                    `yaml:"age_at_least"`
	Restrictions []AnonCredsRestriction `yaml:"restrictions"`
}

// Bounds on an AnonCreds policy.
const (
	maxAnonCredsReferents = 32 // requested attributes plus predicates
	maxAnonCredsRules     = 64 // restrictions, per list
	maxAgeAtLeast         = 150
)

// trust returns the section's restrictions, issuers included.
func (a *AnonCredsPolicy) trust() []AnonCredsRestriction {
	out := make([]AnonCredsRestriction, 0, len(a.Issuers)+len(a.Restrictions))
	for _, iss := range a.Issuers {
		out = append(out, AnonCredsRestriction{IssuerDID: iss})
	}
	return append(out, a.Restrictions...)
}

func (a *AnonCredsPolicy) restrictionsOf(own []AnonCredsRestriction) []AnonCredsRestriction {
	if len(own) > 0 {
		return own
	}
	return a.trust()
}

// DisplayClaimsFor returns the claims the agent may see of a credential of format f: the
// AnonCreds section's for FormatAnonCreds, DisplayClaims otherwise.
func (p *Policy) DisplayClaimsFor(f Format) []string {
	if f == FormatAnonCreds {
		if p.AnonCreds == nil {
			return nil
		}
		return p.AnonCreds.DisplayClaims
	}
	return p.DisplayClaims
}

// validate reports the first problem with the section, naming its field under "anoncreds".
func (a *AnonCredsPolicy) validate(policy string) error {
	const sec = "anoncreds"
	errf := func(field, format string, args ...any) error {
		return fieldErrorf(subfield(sec, field), "policy %q: anoncreds: %s", policy, fmt.Sprintf(format, args...))
	}
	for i, iss := range a.Issuers {
		if err := checkAnonCredsDID(iss); err != nil {
			return errf(fmt.Sprintf("issuers[%d]", i), "issuer %q %v", iss, err)
		}
	}
	if err := checkRestrictions(a.Restrictions, sec+".restrictions", policy); err != nil {
		return err
	}
	if len(a.trust()) == 0 {
		return fieldErrorf(sec, "policy %q: anoncreds: no trusted issuers (list issuers or restrictions)", policy)
	}
	if len(a.trust()) > maxAnonCredsRules {
		return fieldErrorf(sec, "policy %q: anoncreds: more than %d restrictions", policy, maxAnonCredsRules)
	}
	n := len(a.Attributes) + len(a.Predicates)
	switch {
	case n == 0:
		return fieldErrorf(sec, "policy %q: anoncreds: no attributes or predicates to ask for", policy)
	case n > maxAnonCredsReferents:
		return fieldErrorf(sec, "policy %q: anoncreds: %d attributes and predicates, more than %d", policy, n, maxAnonCredsReferents)
	}
	revealed := map[string]bool{}
	for i, at := range a.Attributes {
		field := fmt.Sprintf("attributes[%d]", i)
		names := at.Names
		switch {
		case at.Name != "" && len(at.Names) == 0:
			names = []string{at.Name}
		case at.Name == "" && len(at.Names) > 0:
		default:
			return errf(field, "attribute %d needs exactly one of name and names", i)
		}
		for j, nm := range names {
			nf := field + ".name"
			if at.Name == "" {
				nf = fmt.Sprintf("%s.names[%d]", field, j)
			}
			c := anonCredsName(nm)
			if err := checkAttrName(nm); err != nil {
				return errf(nf, "attribute name %q %v", nm, err)
			}
			if revealed[c] {
				return errf(nf, "attribute %q is asked for twice", nm)
			}
			revealed[c] = true
		}
		if err := checkRestrictions(at.Restrictions, subfield(sec, field+".restrictions"), policy); err != nil {
			return err
		}
	}
	for i, pr := range a.Predicates {
		field := fmt.Sprintf("predicates[%d]", i)
		if pr.Attribute == "" {
			return errf(field, "predicate %d has no attribute", i)
		}
		if err := checkAttrName(pr.Attribute); err != nil {
			return errf(field+".attribute", "predicate attribute %q %v", pr.Attribute, err)
		}
		if pr.AgeAtLeast != 0 {
			switch {
			case pr.AgeAtLeast < 0 || pr.AgeAtLeast > maxAgeAtLeast:
				return errf(field+".age_at_least", "age_at_least %d is not between 1 and %d", pr.AgeAtLeast, maxAgeAtLeast)
			case pr.PType != "" || pr.PValue != nil:
				return errf(field+".age_at_least", "age_at_least sets p_type and p_value itself (<= a date as YYYYMMDD); give one or the other")
			}
		} else {
			if _, ok := predicateTypes[pr.PType]; !ok {
				return errf(field+".p_type", "p_type %q is not one of >=, >, <=, <", pr.PType)
			}
			if pr.PValue == nil {
				return errf(field, "predicate on %s has no p_value", pr.Attribute)
			}
		}
		if err := checkRestrictions(pr.Restrictions, subfield(sec, field+".restrictions"), policy); err != nil {
			return err
		}
	}
	switch a.NonRevoked {
	case "", NonRevokedRequired, NonRevokedNotRequired:
	default:
		return errf("non_revoked", "non_revoked %q is not required or not_required", a.NonRevoked)
	}
	for i, c := range a.DisplayClaims {
		if !revealed[anonCredsName(c)] {
			return errf(fmt.Sprintf("display_claims[%d]", i), "display claim %q is not a requested attribute (only revealed attributes can be shown)", c)
		}
	}
	return nil
}

var predicateTypes = map[string]bool{">=": true, ">": true, "<=": true, "<": true}

func checkAttrName(name string) error {
	switch {
	case strings.TrimSpace(name) == "":
		return errors.New("is empty")
	case len(name) > anoncreds.MaxNameLength:
		return fmt.Errorf("is longer than %d bytes", anoncreds.MaxNameLength)
	case anonCredsName(name) == "master_secret":
		return errors.New("is the link secret's, never revealed")
	}
	return nil
}

// anonCredsName is the form AnonCreds compares attribute names in: no spaces, lower case.
func anonCredsName(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }

// checkAnonCredsDID accepts an issuer DID of a policy's AnonCreds section.
func checkAnonCredsDID(did string) error {
	if _, _, err := splitDID(did); err != nil {
		return errors.New("is not a DID (a legacy Indy issuer is did:sov:<nym>)")
	}
	return nil
}

func checkRestrictions(rs []AnonCredsRestriction, field, policy string) error {
	if len(rs) > maxAnonCredsRules {
		return fieldErrorf(field, "policy %q: %s: more than %d restrictions", policy, field, maxAnonCredsRules)
	}
	for i, r := range rs {
		f := fmt.Sprintf("%s[%d]", field, i)
		errf := func(member, format string, args ...any) error {
			return fieldErrorf(subfield(f, member), "policy %q: %s: %s", policy, subfield(f, member), fmt.Sprintf(format, args...))
		}
		if r.IssuerDID == "" && r.CredDefID == "" {
			return fieldErrorf(f, "policy %q: %s names neither issuer_did nor cred_def_id: a schema alone does not say who signed", policy, f)
		}
		if r.IssuerDID != "" {
			if err := checkAnonCredsDID(r.IssuerDID); err != nil {
				return errf("issuer_did", "%q %v", r.IssuerDID, err)
			}
		}
		if r.SchemaIssuerDID != "" {
			if err := checkAnonCredsDID(r.SchemaIssuerDID); err != nil {
				return errf("schema_issuer_did", "%q %v", r.SchemaIssuerDID, err)
			}
		}
		if r.CredDefID != "" {
			id, err := registry.ParseID(r.CredDefID)
			if err != nil || (id.Kind != registry.KindCredentialDefinition && id.Kind != registry.KindUnknown) {
				return errf("cred_def_id", "%q is not a credential definition id", r.CredDefID)
			}
			if r.IssuerDID != "" && issuerOf(id) != r.IssuerDID {
				return errf("cred_def_id", "%q is issued by %s, not %s", r.CredDefID, issuerOf(id), r.IssuerDID)
			}
		}
		if r.SchemaID != "" {
			id, err := registry.ParseID(r.SchemaID)
			if err != nil || (id.Kind != registry.KindSchema && id.Kind != registry.KindUnknown) {
				return errf("schema_id", "%q is not a schema id", r.SchemaID)
			}
		}
		if len(r.SchemaName) > anoncreds.MaxNameLength || len(r.SchemaVersion) > anoncreds.MaxNameLength {
			return errf("schema_name", "schema name or version longer than %d bytes", anoncreds.MaxNameLength)
		}
	}
	return nil
}

// issuerOf returns the DID that issued the object id names: did:sov:<nym> for a legacy Indy
// id, the DID of any other.
func issuerOf(id registry.ID) string {
	if id.Form == registry.FormLegacy {
		return "did:sov:" + id.Nym
	}
	return id.Issuer
}

// restrictionJSON is how a restriction is written in a proof request: as the wallet's
// credential records name issuers (a legacy Indy issuer by its bare nym).
func (r AnonCredsRestriction) requestForm() AnonCredsRestriction {
	unqualify := func(did string) string {
		if nym, ok := strings.CutPrefix(did, "did:sov:"); ok {
			return nym
		}
		return did
	}
	r.IssuerDID, r.SchemaIssuerDID = unqualify(r.IssuerDID), unqualify(r.SchemaIssuerDID)
	return r
}

func restrictionsJSON(rs []AnonCredsRestriction) json.RawMessage {
	out := make([]AnonCredsRestriction, len(rs))
	for i, r := range rs {
		out[i] = r.requestForm()
	}
	b, _ := json.Marshal(out) // strings only: cannot fail
	return b
}

// AnonCredsNonce is the nonce of a session's AnonCreds proof request: a decimal of 88 bits
// (the top one set) from SHA-256 over the service's identifier (domain) and the session's
// challenge. The CL proof's challenge covers it, so a presentation answers this session's
// request and no other; the verifier recomputes it rather than storing it.
func AnonCredsNonce(domain, challenge string) string {
	h := sha256.New()
	h.Write([]byte("hearro/anoncreds-nonce/v1\x00"))
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(challenge))
	sum := h.Sum(nil)
	n := new(big.Int).SetBytes(sum[:11])
	n.SetBit(n, 87, 1)
	return n.String()
}

// referent names of a proof request built from a policy.
func attrReferent(i int) string { return fmt.Sprintf("attr_%d", i) }
func predReferent(i int) string { return fmt.Sprintf("pred_%d", i) }

// AnonCredsProofRequest returns the AnonCreds proof request (the JSON of an
// anoncreds/proof-request@v1.0 or hlindy/proof-req@v2.0 attachment) that asks for what the
// policy's AnonCreds section asks: its nonce is AnonCredsNonce(domain, challenge), each
// attribute is requested revealed under its restrictions, and predicates with age_at_least
// are computed from now (UTC). The service sends exactly these bytes and passes them back to
// VerifyAnonCreds.
func (p *Policy) AnonCredsProofRequest(challenge, domain string, now time.Time) ([]byte, error) {
	if p.AnonCreds == nil {
		return nil, fmt.Errorf("policy %q has no anoncreds section", p.Name)
	}
	if challenge == "" {
		return nil, errors.New("anoncreds proof request: no challenge")
	}
	req := p.anonCredsRequest(AnonCredsNonce(domain, challenge), now)
	name := p.Purpose
	if name == "" {
		name = p.Name
	}
	req.Name, req.Version = name, "1.0"
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<=" as wallets write it, not "\u003c="
	if err := enc.Encode(req); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// anonCredsRequest builds the request of the policy's AnonCreds section.
func (p *Policy) anonCredsRequest(nonce string, now time.Time) *anoncreds.PresentationRequest {
	a := p.AnonCreds
	req := &anoncreds.PresentationRequest{
		Nonce:               nonce,
		RequestedAttributes: map[string]anoncreds.AttributeRequest{},
		RequestedPredicates: map[string]anoncreds.PredicateRequest{},
	}
	for i, at := range a.Attributes {
		req.RequestedAttributes[attrReferent(i)] = anoncreds.AttributeRequest{
			Name: at.Name, Names: at.Names, Restrictions: restrictionsJSON(a.restrictionsOf(at.Restrictions)),
		}
	}
	for i, pr := range a.Predicates {
		ptype, pvalue := pr.PType, int32(0)
		if pr.AgeAtLeast > 0 {
			ptype, pvalue = "<=", bornOnOrBefore(now, pr.AgeAtLeast)
		} else if pr.PValue != nil {
			pvalue = *pr.PValue
		}
		req.RequestedPredicates[predReferent(i)] = anoncreds.PredicateRequest{
			Name: pr.Attribute, PType: ptype, PValue: pvalue, Restrictions: restrictionsJSON(a.restrictionsOf(pr.Restrictions)),
		}
	}
	if a.NonRevoked == NonRevokedRequired {
		to := uint64(max(now.Unix(), 0))
		req.NonRevoked = &anoncreds.NonRevokedInterval{From: &to, To: &to}
	}
	return req
}

// bornOnOrBefore is the latest birth date, as YYYYMMDD, of someone at least years old on
// now's UTC date. Someone born on 29 February is that old on 1 March of a common year.
func bornOnOrBefore(now time.Time, years int) int32 {
	y, m, d := now.UTC().Date()
	y -= years
	if m == time.February && d == 29 && !isLeap(y) {
		d = 28
	}
	v := int64(y)*10000 + int64(m)*100 + int64(d)
	return int32(min(max(v, 0), math.MaxInt32))
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// checkAnonCredsRequest reports whether req is a request this policy's AnonCreds section
// makes: the same referents, names, types and restrictions, the same non-revocation demand;
// fixed predicate values equal, and age predicates at least as strict as one made now (a day
// of slack for clocks). It guards against verifying against another policy's request.
func (p *Policy) checkAnonCredsRequest(req *anoncreds.PresentationRequest, now time.Time) error {
	want := p.anonCredsRequest(req.Nonce, now)
	if len(req.RequestedAttributes) != len(want.RequestedAttributes) || len(req.RequestedPredicates) != len(want.RequestedPredicates) {
		return errors.New("the proof request does not ask what the policy asks")
	}
	for ref, w := range want.RequestedAttributes {
		g, ok := req.RequestedAttributes[ref]
		if !ok || g.Name != w.Name || !slices.Equal(g.Names, w.Names) || !sameJSON(g.Restrictions, w.Restrictions) {
			return fmt.Errorf("the proof request's %s is not the policy's", ref)
		}
	}
	for i, pr := range p.AnonCreds.Predicates {
		ref := predReferent(i)
		w, g := want.RequestedPredicates[ref], req.RequestedPredicates[ref]
		if g.Name != w.Name || g.PType != w.PType || !sameJSON(g.Restrictions, w.Restrictions) {
			return fmt.Errorf("the proof request's %s is not the policy's", ref)
		}
		if pr.AgeAtLeast > 0 {
			if g.PValue > bornOnOrBefore(now.Add(24*time.Hour), pr.AgeAtLeast) {
				return fmt.Errorf("the proof request's %s asks a younger age than the policy", ref)
			}
		} else if g.PValue != w.PValue {
			return fmt.Errorf("the proof request's %s is not the policy's", ref)
		}
	}
	asks := req.NonRevoked != nil && (req.NonRevoked.From != nil || req.NonRevoked.To != nil)
	if asks != (want.NonRevoked != nil) {
		return errors.New("the proof request's non-revocation demand is not the policy's")
	}
	return nil
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// AsksW3C reports whether the policy accepts W3C (and SD-JWT) credentials: whether it has a
// credential rule. A policy with only an AnonCreds section has none, and no presentation
// definition should be sent for it.
func (p *Policy) AsksW3C() bool { return len(p.Credentials) > 0 || p.CredentialType != "" }
