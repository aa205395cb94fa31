package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/identity/anoncreds"
	"github.com/hearro/trustbroker/identity/anoncreds/registry"
)

// AnonCredsRequest is what an AnonCreds presentation must satisfy.
type AnonCredsRequest struct {
	// Policy is the session's policy; it must have an AnonCreds section.
	Policy *Policy
	// Challenge is the session's nonce and Domain this service's identifier: the proof
	// request's nonce must be AnonCredsNonce(Domain, Challenge).
	Challenge string
	Domain    string
	// ProofRequest is the proof request the service sent, as Policy.AnonCredsProofRequest
	// returned it. It must be this policy's request for this session.
	ProofRequest []byte
	// ConnectionDID is the holder's DIDComm connection DID. AnonCreds credentials name no
	// holder (the link secret binds them to the wallet, not to a DID), so the result's
	// HolderDID is this DID.
	ConnectionDID string
	// Registry serves the schemas and credential definitions the presentation names. Only
	// identifiers the policy trusts are looked up.
	Registry registry.Registry
}

// maxAnonCredsCredentials bounds the credentials (sub-proofs) of one presentation, and so
// the registry lookups it can cause.
const maxAnonCredsCredentials = 8

// ProofTypeCL is the Result.ProofType of an AnonCreds presentation.
const ProofTypeCL = "CL"

// VerifyAnonCreds checks an AnonCreds presentation (the JSON of an anoncreds/proof@v1.0 or
// hlindy/proof@v2.0 attachment) against req and returns the same Result as Verify, with
// Format FormatAnonCreds.
//
// Cheap checks come first, and nothing is fetched before them: the proof request is this
// policy's and this session's (nonce); the presentation parses within anoncreds' limits;
// it names at most maxAnonCredsCredentials credentials, each by well-formed identifiers
// that the policy's restrictions trust (untrusted_issuer otherwise, without any lookup);
// every requested attribute is revealed from a credential (self_attested, missing_claim)
// and every predicate answered (predicate_failed). Then the trusted credential definitions
// and schemas are read from the registry (unresolvable_did when that fails), each answer
// is checked against the restrictions of what it answers, and the CL proof is verified
// (bad_signature; challenge_mismatch when its challenge does not recompute over this
// session's nonce — a proof made for another request, or altered). A policy requiring
// non-revocation refuses revocable credentials (revocation_unsupported). Last, the
// challenge is used up (replayed).
//
// Claims are the revealed attributes' raw values, by the names the policy asks them by;
// self-attested values are never claims. IssuerDID and CredentialType (the schema name) are
// of the credential that answers the first attribute (or predicate); all credentials used
// are trusted by the policy. AnonCreds credentials carry no dates: IssuedAt and ExpiresAt
// are zero.
func (v *Verifier) VerifyAnonCreds(ctx context.Context, raw []byte, req AnonCredsRequest) (*Result, error) {
	pol := req.Policy
	if pol == nil || req.Registry == nil {
		return nil, errors.New("verify anoncreds: no policy or registry")
	}
	if pol.AnonCreds == nil {
		return nil, reject(ReasonFormatNotAllowed, "policy %q does not accept AnonCreds presentations", pol.Name)
	}
	pr, err := anoncreds.ParsePresentationRequest(req.ProofRequest)
	if err != nil {
		return nil, fmt.Errorf("verify anoncreds: the proof request: %w", err)
	}
	if req.Challenge == "" || pr.Nonce != AnonCredsNonce(req.Domain, req.Challenge) {
		return nil, reject(ReasonChallengeMismatch, "the proof request is not this session's")
	}
	if err := pol.checkAnonCredsRequest(pr, v.now()); err != nil {
		return nil, fmt.Errorf("verify anoncreds: policy %q: %w", pol.Name, err)
	}
	if len(raw) > v.maxSize {
		return nil, reject(ReasonMalformed, "presentation is %d bytes, the limit is %d", len(raw), v.maxSize)
	}
	pres, err := anoncreds.ParsePresentation(raw)
	if err != nil {
		return nil, anonCredsReject(err)
	}
	if err := checkAnswers(pr, pres); err != nil {
		return nil, err
	}
	creds, err := trustedIdentifiers(pol.AnonCreds, pr, pres)
	if err != nil {
		return nil, err
	}

	// Only now, and only for identifiers the policy trusts: the registry.
	defs, err := fetchDefinitions(ctx, req.Registry, creds)
	if err != nil {
		return nil, err
	}
	if err := checkReferentRestrictions(pol.AnonCreds, pres, creds); err != nil {
		return nil, err
	}
	res, err := anoncreds.Verify(withoutRestrictions(pr), pres, defs)
	if err != nil {
		return nil, anonCredsReject(err)
	}
	if pol.AnonCreds.NonRevoked == NonRevokedRequired {
		for i, c := range res.Verified.Credentials {
			if c.Revocable {
				return nil, reject(ReasonRevocationUnsupported, "credential %d (%s) is revocable and the policy requires non-revocation", i, truncate(c.CredDefID))
			}
		}
	}

	claims := map[string]any{}
	target := -1
	for i := range pol.AnonCreds.Attributes {
		ref := attrReferent(i)
		if a, ok := res.Verified.Attributes[ref]; ok {
			claims[a.Name] = a.Raw
			if target < 0 {
				target = a.SubProof
			}
		}
		for _, a := range sortedKeys(res.Verified.Groups[ref]) {
			g := res.Verified.Groups[ref][a]
			claims[g.Name] = g.Raw
			if target < 0 {
				target = g.SubProof
			}
		}
	}
	for i := range pol.AnonCreds.Predicates {
		if p, ok := res.Verified.Predicates[predReferent(i)]; ok && target < 0 {
			target = p.SubProof
		}
	}
	if target < 0 || target >= len(creds) {
		return nil, reject(ReasonMissingCredential, "no credential answers the request")
	}

	fresh, err := v.replay.Use(ctx, ReplayKey(req.Domain, req.Challenge), v.now().Add(v.replayWindow))
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, reject(ReasonReplayed, "this challenge was already answered")
	}
	c := creds[target]
	return &Result{
		HolderDID:      req.ConnectionDID,
		IssuerDID:      issuerOf(c.credDef),
		CredentialType: defs.Schemas[c.id.SchemaID].Name,
		Claims:         claims,
		ProofType:      ProofTypeCL,
		Format:         FormatAnonCreds,
	}, nil
}

// Display returns the claims of r the policy lets the agent see (DisplayClaimsFor r's
// format). AnonCreds attribute names match as AnonCreds compares them (case and spaces
// ignored); the claims keep the names the policy requests them by.
func (p *Policy) Display(r *Result) map[string]any {
	out := map[string]any{}
	for _, name := range p.DisplayClaimsFor(r.Format) {
		if v, ok := r.Claims[name]; ok {
			out[name] = v
			continue
		}
		if r.Format != FormatAnonCreds {
			continue
		}
		for k, v := range r.Claims {
			if anonCredsName(k) == anonCredsName(name) {
				out[k] = v
			}
		}
	}
	return out
}

// checkAnswers refuses, before anything is looked up, a presentation that does not reveal
// every requested attribute from a credential or does not answer every predicate.
func checkAnswers(pr *anoncreds.PresentationRequest, pres *anoncreds.Presentation) error {
	rp := &pres.RequestedProof
	for _, ref := range sortedKeys(pr.RequestedAttributes) {
		want := pr.RequestedAttributes[ref]
		what := want.Name
		if what == "" {
			what = fmt.Sprint(want.Names)
		}
		if _, ok := rp.SelfAttestedAttrs[ref]; ok {
			return reject(ReasonSelfAttested, "%s (%s) is self-attested; the policy requires it from a credential", ref, truncate(what))
		}
		_, single := rp.RevealedAttrs[ref]
		_, group := rp.RevealedAttrGroups[ref]
		if !single && !group {
			return reject(ReasonMissingClaim, "%s (%s) is not revealed", ref, truncate(what))
		}
	}
	for _, ref := range sortedKeys(pr.RequestedPredicates) {
		if _, ok := rp.Predicates[ref]; !ok {
			p := pr.RequestedPredicates[ref]
			return reject(ReasonPredicateFailed, "%s (%s %s %d) is not proven", ref, truncate(p.Name), p.PType, p.PValue)
		}
	}
	return nil
}

// acCredential is one credential (sub-proof) of a presentation, by its parsed identifiers.
type acCredential struct {
	id              anoncreds.Identifier
	credDef, schema registry.ID
	// linked: the schema may be read only if the (trusted) credential definition names it.
	linked bool
	// facts, once the definitions are read.
	schemaName, schemaVersion string
}

// trustedIdentifiers parses each sub-proof's identifiers and refuses any that no
// restriction of the policy could trust, reading only the identifiers themselves.
func trustedIdentifiers(a *AnonCredsPolicy, pr *anoncreds.PresentationRequest, pres *anoncreds.Presentation) ([]*acCredential, error) {
	limit := min(maxAnonCredsCredentials, len(pr.RequestedAttributes)+len(pr.RequestedPredicates))
	if len(pres.Identifiers) == 0 {
		return nil, reject(ReasonMissingCredential, "the presentation uses no credential")
	}
	if len(pres.Identifiers) > limit {
		return nil, reject(ReasonMalformed, "the presentation uses %d credentials; this request needs at most %d", len(pres.Identifiers), limit)
	}
	all := a.allRestrictions()
	out := make([]*acCredential, len(pres.Identifiers))
	for i, id := range pres.Identifiers {
		cd, err := registry.ParseID(id.CredDefID)
		if err != nil || (cd.Kind != registry.KindCredentialDefinition && cd.Kind != registry.KindUnknown) {
			return nil, reject(ReasonMalformed, "credential %d: cred_def_id is not a credential definition id", i)
		}
		sc, err := registry.ParseID(id.SchemaID)
		if err != nil || (sc.Kind != registry.KindSchema && sc.Kind != registry.KindUnknown) {
			return nil, reject(ReasonMalformed, "credential %d: schema_id is not a schema id", i)
		}
		if id.RevRegID != nil {
			rr, err := registry.ParseID(*id.RevRegID)
			if err != nil || (rr.Kind != registry.KindRevocationRegistryDefinition && rr.Kind != registry.KindUnknown) {
				return nil, reject(ReasonMalformed, "credential %d: rev_reg_id is not a revocation registry id", i)
			}
		}
		c := &acCredential{id: id, credDef: cd, schema: sc}
		trusted, linkOnly := false, false
		for _, r := range all {
			ok, link := r.matchIDs(c)
			if ok && !link {
				trusted = true
				break
			}
			linkOnly = linkOnly || ok
		}
		if !trusted && !linkOnly {
			return nil, reject(ReasonUntrustedIssuer, "credential %d (%s) is not trusted by policy restrictions", i, truncate(id.CredDefID))
		}
		c.linked = !trusted
		out[i] = c
	}
	return out, nil
}

// allRestrictions returns every restriction of the section: its own and its attributes'
// and predicates'.
func (a *AnonCredsPolicy) allRestrictions() []AnonCredsRestriction {
	out := a.trust()
	for _, at := range a.Attributes {
		out = append(out, at.Restrictions...)
	}
	for _, p := range a.Predicates {
		out = append(out, p.Restrictions...)
	}
	return out
}

// matchIDs tests r on what the identifiers say. ok: nothing the identifiers say
// contradicts r (the schema's name and version, when its id does not say them, are tested
// once it is read). link: r trusts the schema only as the one the credential definition
// names (r names no schema id nor schema issuer, and the schema's issuer is not the
// credential's).
func (r AnonCredsRestriction) matchIDs(c *acCredential) (ok, link bool) {
	switch {
	case r.IssuerDID != "" && r.IssuerDID != issuerOf(c.credDef),
		r.CredDefID != "" && r.CredDefID != c.id.CredDefID,
		r.SchemaID != "" && r.SchemaID != c.id.SchemaID,
		r.SchemaIssuerDID != "" && r.SchemaIssuerDID != issuerOf(c.schema):
		return false, false
	}
	if c.schema.Kind == registry.KindSchema &&
		(r.SchemaName != "" && r.SchemaName != c.schema.Name || r.SchemaVersion != "" && r.SchemaVersion != c.schema.Version) {
		return false, false
	}
	link = r.SchemaID == "" && r.SchemaIssuerDID == "" && issuerOf(c.schema) != issuerOf(c.credDef)
	return true, link
}

// match tests r on a credential whose definitions were read.
func (r AnonCredsRestriction) match(c *acCredential) bool {
	ok, _ := r.matchIDs(c)
	return ok && (r.SchemaName == "" || r.SchemaName == c.schemaName) && (r.SchemaVersion == "" || r.SchemaVersion == c.schemaVersion)
}

// fetchDefinitions reads the credential definitions, then the schemas, of trusted
// credentials. A schema trusted only through its credential definition is read only if
// that definition names it.
func fetchDefinitions(ctx context.Context, reg registry.Registry, creds []*acCredential) (anoncreds.Definitions, error) {
	defs := anoncreds.Definitions{Schemas: map[string]*anoncreds.Schema{}, CredDefs: map[string]*anoncreds.CredentialDefinition{}}
	for _, c := range creds {
		if defs.CredDefs[c.id.CredDefID] != nil {
			continue
		}
		d, err := reg.CredentialDefinition(ctx, c.id.CredDefID)
		if err != nil {
			return defs, registryReject(err)
		}
		defs.CredDefs[c.id.CredDefID] = d
	}
	for i, c := range creds {
		if c.linked && defs.CredDefs[c.id.CredDefID].SchemaID != c.id.SchemaID {
			return defs, reject(ReasonUntrustedIssuer, "credential %d: schema %s is neither trusted by the policy nor named by the credential definition", i, truncate(c.id.SchemaID))
		}
		s := defs.Schemas[c.id.SchemaID]
		if s == nil {
			var err error
			if s, err = reg.Schema(ctx, c.id.SchemaID); err != nil {
				return defs, registryReject(err)
			}
			defs.Schemas[c.id.SchemaID] = s
		}
		c.schemaName, c.schemaVersion = s.Name, s.Version
	}
	return defs, nil
}

// checkReferentRestrictions checks that each requested attribute and predicate is answered
// from a credential its restrictions trust.
func checkReferentRestrictions(a *AnonCredsPolicy, pres *anoncreds.Presentation, creds []*acCredential) error {
	rp := &pres.RequestedProof
	check := func(ref string, idx uint32, rs []AnonCredsRestriction) error {
		if int(idx) >= len(creds) {
			return reject(ReasonMalformed, "%s points at credential %d of %d", ref, idx, len(creds))
		}
		for _, r := range rs {
			if r.match(creds[idx]) {
				return nil
			}
		}
		return reject(ReasonUntrustedIssuer, "%s is answered from %s, which its restrictions do not trust", ref, truncate(creds[idx].id.CredDefID))
	}
	for i, at := range a.Attributes {
		ref := attrReferent(i)
		idx := rp.RevealedAttrs[ref].SubProofIndex
		if g, ok := rp.RevealedAttrGroups[ref]; ok {
			idx = g.SubProofIndex
		}
		if err := check(ref, idx, a.restrictionsOf(at.Restrictions)); err != nil {
			return err
		}
	}
	for i, p := range a.Predicates {
		ref := predReferent(i)
		if err := check(ref, rp.Predicates[ref].SubProofIndex, a.restrictionsOf(p.Restrictions)); err != nil {
			return err
		}
	}
	return nil
}

// withoutRestrictions returns a copy of req without restrictions, for anoncreds.Verify:
// the policy's restrictions are checked by checkReferentRestrictions, which names issuers
// as policies do (did:sov:<nym> for legacy ids) whatever form a ledger object uses; and
// checkAnswers has already refused self-attested answers.
func withoutRestrictions(req *anoncreds.PresentationRequest) *anoncreds.PresentationRequest {
	out := *req
	out.RequestedAttributes = make(map[string]anoncreds.AttributeRequest, len(req.RequestedAttributes))
	for k, a := range req.RequestedAttributes {
		a.Restrictions = nil
		out.RequestedAttributes[k] = a
	}
	out.RequestedPredicates = make(map[string]anoncreds.PredicateRequest, len(req.RequestedPredicates))
	for k, p := range req.RequestedPredicates {
		p.Restrictions = nil
		out.RequestedPredicates[k] = p
	}
	return &out
}

// anonCredsReject maps a refusal of package anoncreds to the verifier's reasons.
func anonCredsReject(err error) error {
	var e *anoncreds.Error
	if !errors.As(err, &e) {
		return err
	}
	r := ReasonMalformed
	switch e.Reason {
	case anoncreds.ReasonMalformed:
		r = ReasonMalformed
	case anoncreds.ReasonMissingDefinition:
		r = ReasonUnresolvableDID
	case anoncreds.ReasonRequestMismatch:
		r = ReasonMissingClaim
	case anoncreds.ReasonEncodingMismatch, anoncreds.ReasonProofInvalid:
		r = ReasonBadSignature
	case anoncreds.ReasonPredicateFailed:
		r = ReasonPredicateFailed
	case anoncreds.ReasonChallengeMismatch:
		r = ReasonChallengeMismatch
	case anoncreds.ReasonRevocationUnsupported:
		r = ReasonRevocationUnsupported
	}
	return &RejectError{Reason: r, Detail: e.Error()}
}

// registryReject maps a registry failure: the issuer's key (credential definition) or
// schema could not be had.
func registryReject(err error) error {
	for _, s := range []error{registry.ErrNotFound, registry.ErrMalformedID, registry.ErrUnavailable, registry.ErrInvalidObject, registry.ErrUnsupported} {
		if errors.Is(err, s) {
			return &RejectError{Reason: ReasonUnresolvableDID, Detail: err.Error()}
		}
	}
	return err // the caller's context ended, or a registry bug: an internal failure
}
