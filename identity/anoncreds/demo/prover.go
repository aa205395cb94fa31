package demo

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// Credential is a signed credential as its holder keeps it.
type Credential struct {
	SchemaID, CredDefID string
	Public              *anoncreds.PrimaryPublicKey
	Raw                 map[string]string // attribute name → raw value
	A, E, V, M2         *big.Int
}

// Accept turns an issuer's signature into a credential: v = v' + v”. It checks the
// signature, Z = A^e · S^v · ∏ R_i^m_i · Rctxt^m2 (mod n), which covers the link secret.
func (ls *LinkSecret) Accept(pub *anoncreds.PrimaryPublicKey, sig *Signature, blinded *BlindedSecret, raw map[string]string, schemaID, credDefID string) (*Credential, error) {
	c := &Credential{SchemaID: schemaID, CredDefID: credDefID, Public: pub, Raw: raw,
		A: sig.A, E: sig.E, V: new(big.Int).Add(sig.VPrimePrime, blinded.BlindingFactor), M2: sig.M2}
	n := pub.N.Big()
	z := new(big.Int).Exp(c.A, c.E, n)
	z.Mul(z, new(big.Int).Exp(pub.S.Big(), c.V, n)).Mod(z, n)
	z.Mul(z, new(big.Int).Exp(pub.R[linkSecretAttr].Big(), ls.v, n)).Mod(z, n)
	for name, v := range raw {
		z.Mul(z, expSigned(pub.R[commonView(name)].Big(), anoncreds.Encode(v), n)).Mod(z, n)
	}
	z.Mul(z, new(big.Int).Exp(pub.Rctxt.Big(), c.M2, n)).Mod(z, n)
	if z.Cmp(pub.Z.Big()) != 0 {
		return nil, errors.New("demo: signature does not verify")
	}
	return c, nil
}

// Options tune how Prove answers.
type Options struct {
	// SelfAttested answers requested attributes no credential holds.
	SelfAttested map[string]string
	// Hidden lists referents (of requested attributes with "name") to prove without revealing.
	Hidden map[string]bool
}

// Prove answers req from creds: each requested attribute from the first credential that has
// it (a "names" group from the first that has them all), revealed unless opts hides it; each
// predicate from the first credential that has the attribute and satisfies the predicate.
func Prove(random io.Reader, req *anoncreds.PresentationRequest, ls *LinkSecret, creds []*Credential, opts Options) (*anoncreds.Presentation, error) {
	return prove(random, req, func(*Credential) *LinkSecret { return ls }, creds, opts)
}

// ProveMixed is Prove with a link secret per credential (secrets[i] for creds[i]). Only
// tests want it: a verifier must refuse a presentation whose credentials have different
// link secrets, since they then belong to different holders.
func ProveMixed(random io.Reader, req *anoncreds.PresentationRequest, secrets []*LinkSecret, creds []*Credential) (*anoncreds.Presentation, error) {
	if len(secrets) != len(creds) {
		return nil, errors.New("demo: one link secret per credential")
	}
	owner := map[*Credential]*LinkSecret{}
	for i, c := range creds {
		owner[c] = secrets[i]
	}
	return prove(random, req, func(c *Credential) *LinkSecret { return owner[c] }, creds, Options{})
}

func prove(random io.Reader, req *anoncreds.PresentationRequest, secretOf func(*Credential) *LinkSecret, creds []*Credential, opts Options) (*anoncreds.Presentation, error) {
	nonce, err := anoncreds.ParseDecimal(req.Nonce)
	if err != nil {
		return nil, err
	}
	b := &builder{byCred: map[*Credential]int{}, secretOf: secretOf}
	pres := &anoncreds.Presentation{RequestedProof: anoncreds.RequestedProof{
		RevealedAttrs:      map[string]anoncreds.RevealedAttrInfo{},
		RevealedAttrGroups: map[string]anoncreds.RevealedAttrGroupInfo{},
		SelfAttestedAttrs:  map[string]string{},
		UnrevealedAttrs:    map[string]anoncreds.SubProofReferent{},
		Predicates:         map[string]anoncreds.SubProofReferent{},
	}}
	rp := &pres.RequestedProof
	has := func(c *Credential, name string) (string, bool) {
		for k, v := range c.Raw {
			if commonView(k) == commonView(name) {
				return v, true
			}
		}
		return "", false
	}
	for _, ref := range sortedKeys(req.RequestedAttributes) {
		a := req.RequestedAttributes[ref]
		names := a.Names
		if a.Name != "" {
			names = []string{a.Name}
		}
		var found *Credential
		for _, c := range creds {
			all := true
			for _, nm := range names {
				if _, ok := has(c, nm); !ok {
					all = false
				}
			}
			if all {
				found = c
				break
			}
		}
		if found == nil {
			v, ok := opts.SelfAttested[ref]
			if !ok {
				return nil, fmt.Errorf("demo: no credential answers %q", ref)
			}
			rp.SelfAttestedAttrs[ref] = v
			continue
		}
		idx := b.sub(found)
		if a.Name != "" && opts.Hidden[ref] {
			rp.UnrevealedAttrs[ref] = anoncreds.SubProofReferent{SubProofIndex: uint32(idx)}
			continue
		}
		values := map[string]anoncreds.AttributeValue{}
		for _, nm := range names {
			raw, _ := has(found, nm)
			b.subs[idx].revealed[commonView(nm)] = true
			values[nm] = anoncreds.AttributeValue{Raw: raw, Encoded: anoncreds.Encode(raw).String()}
		}
		if a.Name != "" {
			v := values[a.Name]
			rp.RevealedAttrs[ref] = anoncreds.RevealedAttrInfo{SubProofIndex: uint32(idx), Raw: v.Raw, Encoded: v.Encoded}
		} else {
			rp.RevealedAttrGroups[ref] = anoncreds.RevealedAttrGroupInfo{SubProofIndex: uint32(idx), Values: values}
		}
	}
	for _, ref := range sortedKeys(req.RequestedPredicates) {
		p := req.RequestedPredicates[ref]
		pred := anoncreds.Predicate{AttrName: commonView(p.Name), PType: map[string]string{">=": "GE", ">": "GT", "<=": "LE", "<": "LT"}[p.PType], Value: p.PValue}
		var found *Credential
		for _, c := range creds {
			raw, ok := has(c, p.Name)
			if !ok {
				continue
			}
			if v, ok := int32Of(raw); ok && delta(pred, v) >= 0 {
				found = c
				break
			}
		}
		if found == nil {
			return nil, fmt.Errorf("demo: no credential satisfies predicate %q", ref)
		}
		idx := b.sub(found)
		b.subs[idx].preds = append(b.subs[idx].preds, pred)
		rp.Predicates[ref] = anoncreds.SubProofReferent{SubProofIndex: uint32(idx)}
	}
	proof, err := b.prove(random, nonce)
	if err != nil {
		return nil, err
	}
	pres.Proof = *proof
	for _, s := range b.subs {
		pres.Identifiers = append(pres.Identifiers, anoncreds.Identifier{SchemaID: s.cred.SchemaID, CredDefID: s.cred.CredDefID})
	}
	return pres, nil
}

func int32Of(raw string) (int64, bool) {
	v, err := anoncreds.ParseDecimal(raw)
	if err != nil || !v.IsInt64() || v.Int64() < math.MinInt32 || v.Int64() > math.MaxInt32 {
		return 0, false
	}
	return v.Int64(), true
}

// delta is the non-negative difference a satisfied predicate decomposes into four squares.
func delta(p anoncreds.Predicate, v int64) int64 {
	pv := int64(p.Value)
	switch p.PType {
	case "GE":
		return v - pv
	case "GT":
		return v - pv - 1
	case "LE":
		return pv - v
	default: // LT
		return pv - v - 1
	}
}
