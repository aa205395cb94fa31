package anoncreds

import (
	"math/big"
	"strings"
)

// Key sizes accepted for the issuer's modulus n. AnonCreds issuers use 2048 bits (two
// 1024-bit safe primes).
const (
	MinModulusBits = 2048
	MaxModulusBits = 4096
)

// linkSecretAttr is the hidden attribute holding the holder's link secret; the name is
// historical and fixed by every published credential definition.
const linkSecretAttr = "master_secret"

// commonView is the attribute-name normalization every AnonCreds implementation applies
// before matching names: spaces removed, lower case.
func commonView(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, " ", ""))
}

func (k *PrimaryPublicKey) normalize() error {
	if !k.N.Set() || !k.S.Set() || !k.Z.Set() || !k.Rctxt.Set() || k.R == nil {
		return refuse(ReasonMalformed, "primary key lacks n, s, z, rctxt or r")
	}
	n := k.N.Big()
	if b := n.BitLen(); b < MinModulusBits || b > MaxModulusBits || n.Bit(0) == 0 {
		return refuse(ReasonMalformed, "modulus of %d bits (or even)", n.BitLen())
	}
	if k.Rms.Set() {
		if _, ok := k.R[linkSecretAttr]; !ok {
			k.R[linkSecretAttr] = k.Rms
		}
		k.Rms = nil
	}
	if len(k.R) == 0 || len(k.R) > MaxAttributes+1 {
		return refuse(ReasonMalformed, "primary key has %d attribute bases", len(k.R))
	}
	if !inGroup(k.S.Big(), n) || !inGroup(k.Z.Big(), n) || !inGroup(k.Rctxt.Big(), n) {
		return refuse(ReasonMalformed, "s, z or rctxt is not in [2, n-1]")
	}
	for name, r := range k.R {
		if len(name) > MaxNameLength || name != commonView(name) || !r.Set() || !inGroup(r.Big(), n) {
			return refuse(ReasonMalformed, "attribute base %q is not usable", name)
		}
	}
	return nil
}

// inGroup reports 2 <= x <= n-1 for a key element.
func inGroup(x, n *big.Int) bool {
	return x.Sign() > 0 && x.BitLen() > 1 && x.Cmp(n) < 0
}

func (r *PresentationRequest) validate() error {
	nonce, err := ParseDecimal(r.Nonce)
	if err != nil || nonce.Sign() <= 0 || nonce.BitLen() > 1024 {
		return refuse(ReasonMalformed, "nonce %q is not a positive decimal of at most 1024 bits", r.Nonce)
	}
	if len(r.RequestedAttributes) > MaxReferents || len(r.RequestedPredicates) > MaxReferents {
		return refuse(ReasonMalformed, "too many requested attributes or predicates")
	}
	if len(r.RequestedAttributes)+len(r.RequestedPredicates) == 0 {
		return refuse(ReasonMalformed, "request asks for nothing")
	}
	for ref, a := range r.RequestedAttributes {
		if ref == "" || len(ref) > MaxNameLength {
			return refuse(ReasonMalformed, "bad referent %q", ref)
		}
		switch {
		case a.Name != "" && a.Names == nil:
			if len(a.Name) > MaxNameLength {
				return refuse(ReasonMalformed, "attribute name too long in %q", ref)
			}
		case a.Name == "" && len(a.Names) > 0:
			if len(a.Names) > MaxAttributes {
				return refuse(ReasonMalformed, "too many names in %q", ref)
			}
			seen := map[string]bool{}
			for _, n := range a.Names {
				c := commonView(n)
				if c == "" || len(n) > MaxNameLength || seen[c] {
					return refuse(ReasonMalformed, "empty, long or repeated name in %q", ref)
				}
				seen[c] = true
			}
		default:
			return refuse(ReasonMalformed, "requested attribute %q needs exactly one of name and names", ref)
		}
	}
	for ref, p := range r.RequestedPredicates {
		if ref == "" || len(ref) > MaxNameLength || p.Name == "" || len(p.Name) > MaxNameLength {
			return refuse(ReasonMalformed, "bad predicate %q", ref)
		}
		if _, ok := predicateTypes[p.PType]; !ok {
			return refuse(ReasonMalformed, "predicate %q has p_type %q", ref, p.PType)
		}
	}
	return nil
}

// predicateTypes maps the request's p_type to the CL library's spelling.
var predicateTypes = map[string]string{">=": "GE", ">": "GT", "<=": "LE", "<": "LT"}

func (p *Presentation) validate() error {
	subs := p.Proof.Proofs
	if len(subs) > MaxSubProofs {
		return refuse(ReasonMalformed, "%d sub-proofs", len(subs))
	}
	if len(p.Identifiers) != len(subs) {
		return refuse(ReasonMalformed, "%d identifiers for %d sub-proofs", len(p.Identifiers), len(subs))
	}
	for i, id := range p.Identifiers {
		if id.SchemaID == "" || id.CredDefID == "" || len(id.SchemaID) > MaxNameLength || len(id.CredDefID) > MaxNameLength ||
			(id.RevRegID != nil && len(*id.RevRegID) > MaxNameLength) {
			return refuse(ReasonMalformed, "identifier %d is empty or too long", i)
		}
	}
	if !p.Proof.AggregatedProof.CHash.Set() {
		return refuse(ReasonMalformed, "aggregated_proof lacks c_hash")
	}
	if len(p.Proof.AggregatedProof.CList) > MaxSubProofs*(9+5*MaxPredicates) {
		return refuse(ReasonMalformed, "c_list too long")
	}
	for i := range subs {
		if err := subs[i].PrimaryProof.validate(i); err != nil {
			return err
		}
	}
	return p.RequestedProof.validate()
}

func (pp *PrimaryProof) validate(i int) error {
	eq := &pp.EqProof
	if !eq.APrime.Set() || !eq.E.Set() || !eq.V.Set() || !eq.M2.Set() {
		return refuse(ReasonMalformed, "sub-proof %d: eq_proof lacks a_prime, e, v or m2", i)
	}
	if eq.M == nil {
		eq.M = map[string]*Num{}
	}
	if eq.M1 != nil { // legacy: m1 is m["master_secret"]; moved once, at parse time
		if _, ok := eq.M[linkSecretAttr]; ok || !eq.M1.Set() {
			return refuse(ReasonMalformed, "sub-proof %d: both m1 and m.master_secret", i)
		}
		eq.M[linkSecretAttr] = eq.M1
		eq.M1 = nil
	}
	if len(eq.M)+len(eq.RevealedAttrs) > MaxAttributes+1 {
		return refuse(ReasonMalformed, "sub-proof %d: too many attributes", i)
	}
	for name, v := range eq.M {
		if len(name) > MaxNameLength || !v.Set() {
			return refuse(ReasonMalformed, "sub-proof %d: bad m[%q]", i, name)
		}
	}
	for name, v := range eq.RevealedAttrs {
		if len(name) > MaxNameLength || !v.Set() {
			return refuse(ReasonMalformed, "sub-proof %d: bad revealed_attrs[%q]", i, name)
		}
	}
	if len(pp.GeProofs) > MaxPredicates {
		return refuse(ReasonMalformed, "sub-proof %d: %d predicate proofs", i, len(pp.GeProofs))
	}
	for j := range pp.GeProofs {
		g := &pp.GeProofs[j]
		if !g.Mj.Set() || !g.Alpha.Set() || len(g.U) != 4 || len(g.R) != 5 || len(g.T) != 5 {
			return refuse(ReasonMalformed, "sub-proof %d: ge_proof %d is incomplete", i, j)
		}
		for _, k := range geKeys {
			if k != "DELTA" && !g.U[k].Set() {
				return refuse(ReasonMalformed, "sub-proof %d: ge_proof %d lacks u[%s]", i, j, k)
			}
			if !g.R[k].Set() || !g.T[k].Set() {
				return refuse(ReasonMalformed, "sub-proof %d: ge_proof %d lacks r or t[%s]", i, j, k)
			}
		}
		switch g.Predicate.PType {
		case "GE", "GT", "LE", "LT":
		default:
			return refuse(ReasonMalformed, "sub-proof %d: predicate type %q", i, g.Predicate.PType)
		}
		if g.Predicate.AttrName == "" || len(g.Predicate.AttrName) > MaxNameLength {
			return refuse(ReasonMalformed, "sub-proof %d: predicate without attribute", i)
		}
	}
	return nil
}

// geKeys are the indices of a four-squares proof: u_i, r_i, T_i for i = 0..3 and the
// commitment to the difference Δ itself.
var geKeys = [5]string{"0", "1", "2", "3", "DELTA"}

func (rp *RequestedProof) validate() error {
	if len(rp.RevealedAttrs)+len(rp.RevealedAttrGroups)+len(rp.SelfAttestedAttrs)+len(rp.UnrevealedAttrs) > MaxReferents ||
		len(rp.Predicates) > MaxReferents {
		return refuse(ReasonMalformed, "requested_proof has too many referents")
	}
	checkValue := func(ref, raw, encoded string) error {
		if len(raw) > MaxRawValueLength {
			return refuse(ReasonMalformed, "raw value of %q too long", ref)
		}
		if _, err := ParseDecimal(encoded); err != nil {
			return refuse(ReasonMalformed, "encoded value of %q is not a decimal", ref)
		}
		return nil
	}
	for ref, a := range rp.RevealedAttrs {
		if err := checkValue(ref, a.Raw, a.Encoded); err != nil {
			return err
		}
	}
	for ref, g := range rp.RevealedAttrGroups {
		if len(g.Values) == 0 || len(g.Values) > MaxAttributes {
			return refuse(ReasonMalformed, "group %q has %d values", ref, len(g.Values))
		}
		for name, v := range g.Values {
			if len(name) > MaxNameLength {
				return refuse(ReasonMalformed, "name too long in group %q", ref)
			}
			if err := checkValue(ref, v.Raw, v.Encoded); err != nil {
				return err
			}
		}
	}
	for ref, v := range rp.SelfAttestedAttrs {
		if len(v) > MaxRawValueLength {
			return refuse(ReasonMalformed, "self-attested value of %q too long", ref)
		}
	}
	return nil
}
