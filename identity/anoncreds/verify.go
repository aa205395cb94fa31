package anoncreds

import (
	"math/big"
	"sort"
)

// Definitions are the public objects a presentation names, fetched by the caller (from a
// ledger, a cache or configuration) and keyed by the identifiers the presentation carries
// (see Presentation.Identifiers).
type Definitions struct {
	Schemas  map[string]*Schema
	CredDefs map[string]*CredentialDefinition
}

// Result is what a verified presentation proves, and, kept apart, what it merely claims.
type Result struct {
	// Verified holds only what the issuers' signatures prove.
	Verified Verified
	// Unverified holds what the holder asserted without any proof. Never treat it as a
	// claim of an issuer.
	Unverified Unverified
}

// Verified is what the CL proof establishes.
type Verified struct {
	// Credentials are the credentials used, one per sub-proof, in proof order.
	Credentials []Credential
	// Attributes are the revealed answers to requested attributes with "name", by referent.
	Attributes map[string]RevealedAttribute
	// Groups are the revealed answers to requested attributes with "names", by referent
	// and then by attribute name as requested.
	Groups map[string]map[string]RevealedAttribute
	// Hidden are requested attributes the holder proved to hold, without revealing them,
	// by referent.
	Hidden map[string]HiddenAttribute
	// Predicates are the proven predicates, by referent.
	Predicates map[string]ProvenPredicate
}

// Unverified is what the holder said without proof.
type Unverified struct {
	// SelfAttested are the holder's own answers to requested attributes, by referent. The
	// request allowed them only because it placed no restriction on those attributes.
	SelfAttested map[string]string
}

// Credential describes the credential behind one sub-proof.
type Credential struct {
	SchemaID  string
	CredDefID string
	// Revocable reports that the credential definition has a revocation key. Its
	// non-revocation was not checked (see ErrRevocationUnsupported): a caller whose policy
	// requires non-revocation must refuse such a credential.
	Revocable bool
}

// RevealedAttribute is an attribute value the issuer signed.
type RevealedAttribute struct {
	Name     string   // attribute name as requested
	Raw      string   // the value; Encoded is its standard encoding
	Encoded  *big.Int // the signed integer
	SubProof int      // index into Verified.Credentials
}

// HiddenAttribute is an attribute proven present but not revealed.
type HiddenAttribute struct {
	Name     string
	SubProof int
}

// ProvenPredicate is a predicate proven on a hidden attribute.
type ProvenPredicate struct {
	Name     string
	PType    string // ">=", ">", "<=" or "<"
	PValue   int32
	SubProof int
}

// Verify checks a presentation against the request it answers. It returns a Result only
// when every check passes; otherwise an *Error whose Reason says which kind of check failed.
//
// It checks that every requested attribute and predicate is answered exactly once and only
// as the request allows; that revealed raw values encode to the signed values; that
// restrictions hold; that each sub-proof's predicates are the requested ones; and the CL
// proof itself: equality and predicate proofs, response ranges, the commitments, the link
// secret shared by all sub-proofs, and the challenge over the request's nonce.
//
// Non-revocation is not verified. Verify refuses with ReasonRevocationUnsupported when the
// request asks non-revocation of a revocable credential or a sub-proof carries a
// non-revocation proof.
//
// Verify does not modify inputs that come from the Parse functions, so any number of
// goroutines may verify with the same parsed definitions and requests at once. Inputs built
// by hand are normalized on first use (legacy m1 and rms moved into m and r), which writes
// to them.
func Verify(req *PresentationRequest, pres *Presentation, defs Definitions) (*Result, error) {
	return verify(req, pres, defs, clOpts{})
}

func verify(req *PresentationRequest, pres *Presentation, defs Definitions, o clOpts) (*Result, error) {
	if req == nil || pres == nil {
		return nil, refuse(ReasonMalformed, "nil request or presentation")
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	if err := pres.validate(); err != nil {
		return nil, err
	}
	nonce, _ := ParseDecimal(req.Nonce)

	subs := pres.Proof.Proofs
	keys := make([]*clKey, len(subs))
	facts := make([]*credFacts, len(subs))
	res := &Result{Verified: Verified{
		Attributes: map[string]RevealedAttribute{},
		Groups:     map[string]map[string]RevealedAttribute{},
		Hidden:     map[string]HiddenAttribute{},
		Predicates: map[string]ProvenPredicate{},
	}, Unverified: Unverified{SelfAttested: map[string]string{}}}
	for i, id := range pres.Identifiers {
		s, d := defs.Schemas[id.SchemaID], defs.CredDefs[id.CredDefID]
		if s == nil || d == nil {
			return nil, refuse(ReasonMissingDefinition, "no schema or credential definition for sub-proof %d", i)
		}
		if err := validateSchema(s); err != nil {
			return nil, err
		}
		if err := d.Value.Primary.normalize(); err != nil {
			return nil, err
		}
		k, err := newCLKey(&d.Value.Primary, s.AttrNames)
		if err != nil {
			return nil, err
		}
		keys[i] = k
		facts[i] = factsFor(id, s, d)
		res.Verified.Credentials = append(res.Verified.Credentials, Credential{
			SchemaID: id.SchemaID, CredDefID: id.CredDefID, Revocable: d.Revocable(),
		})
		if subs[i].HasNonRevocProof() {
			return nil, refuse(ReasonRevocationUnsupported, "sub-proof %d carries a non-revocation proof", i)
		}
	}

	if err := answerRequest(req, pres, facts, res); err != nil {
		return nil, err
	}
	if err := verifyCL(&pres.Proof, keys, nonce, o); err != nil {
		return nil, err
	}
	return res, nil
}

func validateSchema(s *Schema) error {
	if len(s.AttrNames) == 0 || len(s.AttrNames) > MaxAttributes {
		return refuse(ReasonMalformed, "schema has %d attributes", len(s.AttrNames))
	}
	return nil
}

// answerRequest matches requested_proof to the request and the sub-proofs, filling res.
func answerRequest(req *PresentationRequest, pres *Presentation, facts []*credFacts, res *Result) error {
	rp := &pres.RequestedProof
	subs := pres.Proof.Proofs
	sub := func(ref string, idx uint32) (*EqProof, error) {
		if int(idx) >= len(subs) {
			return nil, refuse(ReasonRequestMismatch, "%q points at sub-proof %d of %d", ref, idx, len(subs))
		}
		return &subs[idx].PrimaryProof.EqProof, nil
	}
	// A revealed value: the requested_proof encoding must be the signed one, and the raw
	// value must encode to it.
	reveal := func(ref, name string, idx uint32, raw, encoded string) (RevealedAttribute, error) {
		eq, err := sub(ref, idx)
		if err != nil {
			return RevealedAttribute{}, err
		}
		signed, ok := eq.RevealedAttrs[commonView(name)]
		if !ok {
			return RevealedAttribute{}, refuse(ReasonRequestMismatch, "%q: sub-proof %d does not reveal %q", ref, idx, name)
		}
		enc, err := ParseDecimal(encoded)
		if err != nil || enc.Cmp(signed.Big()) != 0 {
			return RevealedAttribute{}, refuse(ReasonEncodingMismatch, "%q: encoded value of %q is not the signed one", ref, name)
		}
		if !EncodingMatches(raw, enc) {
			return RevealedAttribute{}, refuse(ReasonEncodingMismatch, "%q: raw value of %q does not encode to the signed value", ref, name)
		}
		facts[idx].revealed[commonView(name)] = raw
		return RevealedAttribute{Name: name, Raw: raw, Encoded: new(big.Int).Set(enc), SubProof: int(idx)}, nil
	}

	answered := map[string]bool{}
	once := func(ref string) error {
		if _, ok := req.RequestedAttributes[ref]; !ok {
			return refuse(ReasonRequestMismatch, "answer to %q, which was not requested", ref)
		}
		if answered[ref] {
			return refuse(ReasonRequestMismatch, "%q answered twice", ref)
		}
		answered[ref] = true
		return nil
	}
	subOf := map[string]uint32{} // referent → sub-proof, for restrictions

	for _, ref := range sortedKeys(rp.RevealedAttrs) {
		a := rp.RevealedAttrs[ref]
		if err := once(ref); err != nil {
			return err
		}
		want := req.RequestedAttributes[ref]
		if want.Name == "" {
			return refuse(ReasonRequestMismatch, "%q asks for names; answered as one attribute", ref)
		}
		v, err := reveal(ref, want.Name, a.SubProofIndex, a.Raw, a.Encoded)
		if err != nil {
			return err
		}
		res.Verified.Attributes[ref] = v
		subOf[ref] = a.SubProofIndex
	}
	for _, ref := range sortedKeys(rp.RevealedAttrGroups) {
		g := rp.RevealedAttrGroups[ref]
		if err := once(ref); err != nil {
			return err
		}
		want := req.RequestedAttributes[ref]
		if len(want.Names) == 0 || len(g.Values) != len(want.Names) {
			return refuse(ReasonRequestMismatch, "%q: group does not answer the requested names", ref)
		}
		out := map[string]RevealedAttribute{}
		for _, name := range want.Names {
			val, ok := g.Values[name]
			if !ok {
				return refuse(ReasonRequestMismatch, "%q: group lacks %q", ref, name)
			}
			v, err := reveal(ref, name, g.SubProofIndex, val.Raw, val.Encoded)
			if err != nil {
				return err
			}
			out[name] = v
		}
		res.Verified.Groups[ref] = out
		subOf[ref] = g.SubProofIndex
	}
	for _, ref := range sortedKeys(rp.UnrevealedAttrs) {
		u := rp.UnrevealedAttrs[ref]
		if err := once(ref); err != nil {
			return err
		}
		want := req.RequestedAttributes[ref]
		eq, err := sub(ref, u.SubProofIndex)
		if err != nil {
			return err
		}
		if want.Name == "" {
			return refuse(ReasonRequestMismatch, "%q asks for names; answered as hidden", ref)
		}
		if _, ok := eq.M[commonView(want.Name)]; !ok {
			return refuse(ReasonRequestMismatch, "%q: sub-proof %d does not hide %q", ref, u.SubProofIndex, want.Name)
		}
		res.Verified.Hidden[ref] = HiddenAttribute{Name: want.Name, SubProof: int(u.SubProofIndex)}
		subOf[ref] = u.SubProofIndex
	}
	for _, ref := range sortedKeys(rp.SelfAttestedAttrs) {
		if err := once(ref); err != nil {
			return err
		}
		if !restrictionsEmpty(req.RequestedAttributes[ref].Restrictions) {
			return refuse(ReasonRequestMismatch, "%q is restricted; it cannot be self-attested", ref)
		}
		res.Unverified.SelfAttested[ref] = rp.SelfAttestedAttrs[ref]
	}
	if len(answered) != len(req.RequestedAttributes) {
		return refuse(ReasonRequestMismatch, "%d of %d requested attributes answered", len(answered), len(req.RequestedAttributes))
	}

	if len(rp.Predicates) != len(req.RequestedPredicates) {
		return refuse(ReasonRequestMismatch, "%d answers to %d requested predicates", len(rp.Predicates), len(req.RequestedPredicates))
	}
	for _, ref := range sortedKeys(req.RequestedPredicates) {
		want := req.RequestedPredicates[ref]
		got, ok := rp.Predicates[ref]
		if !ok {
			return refuse(ReasonRequestMismatch, "predicate %q not answered", ref)
		}
		if int(got.SubProofIndex) >= len(subs) {
			return refuse(ReasonRequestMismatch, "%q points at sub-proof %d of %d", ref, got.SubProofIndex, len(subs))
		}
		pt := predicateTypes[want.PType]
		found := false
		for _, g := range subs[got.SubProofIndex].PrimaryProof.GeProofs {
			p := g.Predicate
			if p.AttrName == commonView(want.Name) && p.PType == pt && p.Value == want.PValue {
				found = true
				break
			}
		}
		if !found {
			return refuse(ReasonPredicateFailed, "%q: sub-proof %d proves no %s %s %d", ref, got.SubProofIndex, want.Name, want.PType, want.PValue)
		}
		res.Verified.Predicates[ref] = ProvenPredicate{Name: want.Name, PType: want.PType, PValue: want.PValue, SubProof: int(got.SubProofIndex)}
		ok, err := matchRestrictions(want.Restrictions, facts[got.SubProofIndex])
		if err != nil {
			return err
		}
		if !ok {
			return refuse(ReasonRequestMismatch, "predicate %q: credential does not meet the restrictions", ref)
		}
	}
	for ref, idx := range subOf {
		ok, err := matchRestrictions(req.RequestedAttributes[ref].Restrictions, facts[idx])
		if err != nil {
			return err
		}
		if !ok {
			return refuse(ReasonRequestMismatch, "%q: credential does not meet the restrictions", ref)
		}
	}
	return checkNonRevocation(req, pres, rp, subOf, res.Verified.Credentials)
}

// checkNonRevocation refuses when the request asks non-revocation of an attribute or
// predicate answered from a revocable credential: that proof needs a pairing.
func checkNonRevocation(req *PresentationRequest, pres *Presentation, rp *RequestedProof, subOf map[string]uint32, creds []Credential) error {
	asks := func(own *NonRevokedInterval) bool { return req.NonRevoked.asks() || own.asks() }
	// A credential is revocable when its definition has a revocation key, whatever the
	// holder wrote in identifiers; a registry named in identifiers counts too.
	revocable := func(idx uint32) bool {
		id := pres.Identifiers[idx]
		return creds[idx].Revocable || id.RevRegID != nil || id.Timestamp != nil
	}
	for ref, idx := range subOf {
		if asks(req.RequestedAttributes[ref].NonRevoked) && revocable(idx) {
			return refuse(ReasonRevocationUnsupported, "%q asks non-revocation of a revocable credential", ref)
		}
	}
	for ref, p := range rp.Predicates {
		if asks(req.RequestedPredicates[ref].NonRevoked) && revocable(p.SubProofIndex) {
			return refuse(ReasonRevocationUnsupported, "%q asks non-revocation of a revocable credential", ref)
		}
	}
	return nil
}

// asks reports whether an interval asks anything: an absent or empty ({}) interval does
// not, as in every AnonCreds implementation.
func (n *NonRevokedInterval) asks() bool { return n != nil && (n.From != nil || n.To != nil) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
