package anoncreds

import (
	"bytes"
	"crypto/sha256"
	"math/big"
	"sort"
)

// CL-signature parameters (bit lengths) shared by every AnonCreds implementation
// (anoncreds-clsignatures-rs, ursa, indy-crypto: constants.rs).
const (
	LargeEStart      = 596  // e = 2^596 + e', a prime
	LargeEEndRange   = 119  // 0 <= e' < 2^119
	LargeMVect       = 592  // m̃ blinding of hidden attributes
	LargeUTilde      = 592  // ũ blinding of the four squares u_i
	LargeETilde      = 456  // ẽ blinding of e'
	LargeVTilde      = 3060 // ṽ blinding of v'
	LargeVPrime      = 2128 // r blinding A' = A·S^r, and r_i, r_Δ of the predicate commitments
	LargeVPrimePrime = 2724 // v'' the issuer adds to the holder's blinding v'
	LargeM2Tilde     = 2432 // m̃2 (clsignatures-rs; ursa and indy-crypto use LargeMVect)
	LargeRTilde      = 672  // r̃ blinding of r_i
	LargeAlphaTilde  = 2787 // α̃ blinding of α
	LargeNonce       = 80   // nonces verifiers generate
	Iteration        = 4    // squares in Lagrange's four-square decomposition
	challengeBits    = 256  // c_hash is a SHA-256 value
	messageBits      = 256  // encoded attribute values and the credential context m2
)

// Upper bounds (bit lengths) of the responses an honest prover sends. The reference verifiers
// check none of them; without the bound on ê a prover could use e' < 0, that is e = 1, for
// which anyone can compute a "signature" A = (Z / (S^v·∏R^m))^(1/1). Each bound is the
// blinding length plus the challenge times the largest secret, plus one bit for the sum.
var (
	maxEHatBits     = LargeETilde + 1                              // ẽ + c·e', c·e' < 2^375
	maxVHatBits     = LargeVTilde + 1                              // ṽ + c·v', |c·v'| < 2^2983
	maxMHatBits     = LargeMVect + 2                               // m̃ + c·m, |c·m| < 2^512
	maxM2HatBits    = LargeM2Tilde + 1                             // m̃2 + c·m2
	maxUHatBits     = LargeUTilde + 2                              // ũ + c·u, u < 2^16
	maxRHatBits     = challengeBits + LargeVPrime + 2              // r̃ + c·r, c·r dominates
	maxAlphaHatBits = LargeAlphaTilde + 1                          // α̃ + c·(r_Δ − Σu_i·r_i)
	eStart          = new(big.Int).Lsh(big.NewInt(1), LargeEStart) // 2^596
)

// clOpts are test hooks: record receives every exponentiation (the benchmark replays them
// bare); skipRanges drops the range checks (a test shows what they stop).
type clOpts struct {
	record     func(base, exp, mod *big.Int)
	skipRanges bool
}

// exper performs the modular exponentiations of a verification. A non-nil record receives
// every (base, exponent) pair: the benchmark replays them bare to measure our overhead.
type exper struct {
	n      *big.Int
	record func(base, exp, mod *big.Int)
}

// exp returns b^e mod n for e >= 0.
func (x *exper) exp(b, e *big.Int) *big.Int {
	if x.record != nil {
		x.record(b, e, x.n)
	}
	return new(big.Int).Exp(b, e, x.n)
}

// expSigned returns b^e mod n for any sign of e; ok is false when b is not invertible.
func (x *exper) expSigned(b, e *big.Int) (*big.Int, bool) {
	if e.Sign() >= 0 {
		return x.exp(b, e), true
	}
	inv := new(big.Int).ModInverse(b, x.n)
	if inv == nil {
		return nil, false
	}
	return x.exp(inv, new(big.Int).Neg(e)), true
}

func (x *exper) mulMod(a, b *big.Int) *big.Int {
	r := new(big.Int).Mul(a, b)
	return r.Mod(r, x.n)
}

// inverse returns a^-1 mod n, or nil.
func (x *exper) inverse(a *big.Int) *big.Int {
	return new(big.Int).ModInverse(a, x.n)
}

// clKey is one sub-proof's issuer key and the attribute names its credential signs (the
// schema's, in common view, and the link secret).
type clKey struct {
	n, s, z, rctxt *big.Int
	r              map[string]*big.Int
	attrs          []string // sorted
}

func newCLKey(pk *PrimaryPublicKey, schemaAttrs []string) (*clKey, error) {
	k := &clKey{n: pk.N.Big(), s: pk.S.Big(), z: pk.Z.Big(), rctxt: pk.Rctxt.Big(), r: map[string]*big.Int{}}
	seen := map[string]bool{linkSecretAttr: true}
	k.attrs = append(k.attrs, linkSecretAttr)
	for _, a := range schemaAttrs {
		c := commonView(a)
		if !seen[c] {
			seen[c] = true
			k.attrs = append(k.attrs, c)
		}
	}
	sort.Strings(k.attrs)
	for _, a := range k.attrs {
		r, ok := pk.R[a]
		if !ok {
			return nil, refuse(ReasonMalformed, "credential definition has no base for attribute %q", a)
		}
		k.r[a] = r.Big()
	}
	if len(pk.R) != len(k.attrs) {
		return nil, refuse(ReasonMalformed, "credential definition signs attributes the schema does not name")
	}
	return k, nil
}

// inZnStar reports 0 < x < n; invertibility is checked where an inverse is taken.
func inZnStar(x, n *big.Int) bool { return x.Sign() > 0 && x.Cmp(n) < 0 }

func nonNegBits(x *big.Int, maxBits int) bool { return x.Sign() >= 0 && x.BitLen() <= maxBits }

// verifyCL checks the CL proof of a presentation: every sub-proof's equality proof and
// predicate proofs against its key, that c_list holds exactly the commitments of the proof,
// that the link secret is the same in every sub-proof, and finally the Fiat–Shamir challenge
// c_hash = SHA-256(T̂_1 ‖ … ‖ c_list ‖ nonce), every number as its minimal big-endian bytes.
// It does not look at requested_proof.
func verifyCL(p *Proof, keys []*clKey, nonce *big.Int, o clOpts) error {
	if len(keys) != len(p.Proofs) {
		return refuse(ReasonMalformed, "%d keys for %d sub-proofs", len(keys), len(p.Proofs))
	}
	c := p.AggregatedProof.CHash.Big()
	if !nonNegBits(c, challengeBits) {
		return refuse(ReasonProofInvalid, "c_hash out of range")
	}
	// Cheap checks first, so that a tampered proof costs no exponentiation: ranges, the
	// commitments c_list must hold, the shared link secret, the predicate bindings.
	var clist [][]byte
	var linkSecret *big.Int
	for i := range p.Proofs {
		pp := &p.Proofs[i].PrimaryProof
		if p.Proofs[i].HasNonRevocProof() {
			return refuse(ReasonRevocationUnsupported, "sub-proof %d carries a non-revocation proof", i)
		}
		if !o.skipRanges {
			if err := checkRanges(pp); err != nil {
				return err
			}
		}
		cl, err := commitments(pp)
		if err != nil {
			return err
		}
		clist = append(clist, cl...)
		ms, ok := pp.EqProof.M[linkSecretAttr]
		if !ok {
			return refuse(ReasonProofInvalid, "sub-proof %d does not hide the link secret", i)
		}
		if linkSecret == nil {
			linkSecret = ms.Big()
		} else if linkSecret.Cmp(ms.Big()) != 0 {
			return refuse(ReasonProofInvalid, "sub-proof %d is bound to another link secret", i)
		}
	}
	got := p.AggregatedProof.CList
	if len(got) != len(clist) {
		return refuse(ReasonProofInvalid, "c_list has %d entries, the proof %d commitments", len(got), len(clist))
	}
	for i := range clist {
		if !bytes.Equal(got[i], clist[i]) {
			return refuse(ReasonProofInvalid, "c_list[%d] is not the proof's commitment", i)
		}
	}
	var tau [][]byte
	for i := range p.Proofs {
		x := &exper{n: keys[i].n, record: o.record}
		t, err := verifyPrimary(x, keys[i], &p.Proofs[i].PrimaryProof, c)
		if err != nil {
			return err
		}
		tau = append(tau, t...)
	}
	if ChallengeHash(tau, clist, nonce).Cmp(c) != 0 {
		return refuse(ReasonChallengeMismatch, "recomputed challenge differs from c_hash")
	}
	return nil
}

// ChallengeHash is the AnonCreds Fiat–Shamir challenge: SHA-256 over the concatenation of
// the T values, the commitments and the nonce's minimal big-endian bytes, read as a
// big-endian integer. Nothing separates the items; that is the format.
func ChallengeHash(tau, clist [][]byte, nonce *big.Int) *big.Int {
	h := sha256.New()
	for _, t := range tau {
		h.Write(t)
	}
	for _, c := range clist {
		h.Write(c)
	}
	h.Write(nonce.Bytes())
	return new(big.Int).SetBytes(h.Sum(nil))
}

// commitments returns what c_list must hold for one sub-proof: A', then T_0..T_3, T_Δ of
// each predicate, as minimal big-endian bytes. It also checks that each predicate proof is
// on a hidden attribute and bound to the equality proof (its m̂_j is that attribute's m̂).
func commitments(pp *PrimaryProof) ([][]byte, error) {
	eq := &pp.EqProof
	clist := [][]byte{eq.APrime.Big().Bytes()}
	for j := range pp.GeProofs {
		g := &pp.GeProofs[j]
		mj, ok := eq.M[g.Predicate.AttrName]
		if !ok {
			return nil, refuse(ReasonProofInvalid, "predicate on %q, which is not a hidden attribute", g.Predicate.AttrName)
		}
		if mj.Big().Cmp(g.Mj.Big()) != 0 {
			return nil, refuse(ReasonProofInvalid, "predicate proof on %q is not bound to the equality proof", g.Predicate.AttrName)
		}
		for _, key := range geKeys {
			clist = append(clist, g.T[key].Big().Bytes())
		}
	}
	return clist, nil
}

// verifyPrimary recomputes the T values of one sub-proof: T̂ of the equality proof, then
// the six of each predicate proof.
func verifyPrimary(x *exper, k *clKey, pp *PrimaryProof, c *big.Int) ([][]byte, error) {
	t, err := verifyEquality(x, k, &pp.EqProof, c)
	if err != nil {
		return nil, err
	}
	tau := [][]byte{t.Bytes()}
	for j := range pp.GeProofs {
		ts, err := verifyPredicate(x, k, &pp.GeProofs[j], c)
		if err != nil {
			return nil, err
		}
		for _, v := range ts {
			tau = append(tau, v.Bytes())
		}
	}
	return tau, nil
}

// verifyEquality recomputes
//
//	T̂ = (Z / (A'^(2^596) · ∏_revealed R_i^m_i))^(−c) · A'^ê · ∏_hidden R_j^m̂_j · S^v̂ · Rctxt^m̂2  (mod n)
func verifyEquality(x *exper, k *clKey, eq *EqProof, c *big.Int) (*big.Int, error) {
	n := k.n
	aPrime := eq.APrime.Big()
	if !inZnStar(aPrime, n) {
		return nil, refuse(ReasonProofInvalid, "A' not in Z*_n")
	}
	eHat, vHat, m2Hat := eq.E.Big(), eq.V.Big(), eq.M2.Big()
	// Every signed attribute is either revealed or hidden, never both, never neither.
	for name := range eq.RevealedAttrs {
		if _, ok := k.r[name]; !ok || name == linkSecretAttr {
			return nil, refuse(ReasonProofInvalid, "revealed attribute %q is not in the credential", name)
		}
	}
	for name := range eq.M {
		if _, ok := k.r[name]; !ok {
			return nil, refuse(ReasonProofInvalid, "hidden attribute %q is not in the credential", name)
		}
		if _, rev := eq.RevealedAttrs[name]; rev {
			return nil, refuse(ReasonProofInvalid, "attribute %q both revealed and hidden", name)
		}
	}
	if len(eq.M)+len(eq.RevealedAttrs) != len(k.attrs) {
		return nil, refuse(ReasonProofInvalid, "proof does not cover every attribute of the credential")
	}

	// rar = A'^(2^596) · ∏ R_i^m_i over revealed attributes.
	rar := x.exp(aPrime, eStart)
	for _, name := range k.attrs {
		m, ok := eq.RevealedAttrs[name]
		if !ok {
			continue
		}
		mv := m.Big()
		ri, ok := x.expSigned(k.r[name], mv)
		if !ok {
			return nil, refuse(ReasonProofInvalid, "R of %q not invertible", name)
		}
		rar = x.mulMod(rar, ri)
	}
	zInv := x.inverse(k.z)
	if zInv == nil {
		return nil, refuse(ReasonProofInvalid, "Z not invertible")
	}
	// (Z / rar)^(−c) = (rar · Z^−1)^c
	t := x.exp(x.mulMod(rar, zInv), c)
	t = x.mulMod(t, x.exp(aPrime, eHat))
	for _, name := range k.attrs {
		m, ok := eq.M[name]
		if !ok {
			continue
		}
		t = x.mulMod(t, x.exp(k.r[name], m.Big()))
	}
	t = x.mulMod(t, x.exp(k.s, vHat))
	t = x.mulMod(t, x.exp(k.rctxt, m2Hat))
	return t, nil
}

// deltaPrime is the bound Δ' the predicate compares to, and whether the predicate is a
// "less" one (then T_Δ commits to −Δ and r_Δ is negated).
func deltaPrime(p Predicate) (*big.Int, bool) {
	v := big.NewInt(int64(p.Value))
	switch p.PType {
	case "GT":
		return v.Add(v, big.NewInt(1)), false
	case "LT":
		return v.Sub(v, big.NewInt(1)), true
	case "LE":
		return v, true
	default: // "GE"
		return v, false
	}
}

// verifyPredicate recomputes the six T values of a four-squares predicate proof:
//
//	T̂_i = T_i^(−c) · Z^û_i · S^r̂_i                       (i = 0..3)
//	T̂_Δ = (T_Δ^a · Z^Δ')^(−c) · Z^m̂_j · S^(a·r̂_Δ)        (a = 1 for ≥ and >, −1 for ≤ and <)
//	Q̂   = T_Δ^(−c) · ∏ T_i^û_i · S^α̂
func verifyPredicate(x *exper, k *clKey, g *GeProof, c *big.Int) ([]*big.Int, error) {
	for _, key := range geKeys {
		if !inZnStar(g.T[key].Big(), k.n) {
			return nil, refuse(ReasonProofInvalid, "T[%s] not in Z*_n", key)
		}
	}
	out := make([]*big.Int, 0, Iteration+2)
	for _, key := range geKeys[:Iteration] {
		ti := x.inverse(g.T[key].Big())
		if ti == nil {
			return nil, refuse(ReasonProofInvalid, "T[%s] not invertible", key)
		}
		v := x.mulMod(x.exp(k.z, g.U[key].Big()), x.exp(k.s, g.R[key].Big()))
		out = append(out, x.mulMod(v, x.exp(ti, c)))
	}
	dp, less := deltaPrime(g.Predicate)
	tDelta := g.T["DELTA"].Big()
	tDeltaInv := x.inverse(tDelta)
	if tDeltaInv == nil {
		return nil, refuse(ReasonProofInvalid, "T[DELTA] not invertible")
	}
	rDelta := g.R["DELTA"].Big()
	base := tDelta // T_Δ^a
	if less {
		rDelta = new(big.Int).Neg(rDelta)
		base = tDeltaInv
	}
	zdp, ok := x.expSigned(k.z, dp)
	if !ok {
		return nil, refuse(ReasonProofInvalid, "Z not invertible")
	}
	inner := x.inverse(x.mulMod(base, zdp))
	if inner == nil {
		return nil, refuse(ReasonProofInvalid, "T_Δ^a·Z^Δ' not invertible")
	}
	sr, ok := x.expSigned(k.s, rDelta)
	if !ok {
		return nil, refuse(ReasonProofInvalid, "S not invertible")
	}
	v := x.mulMod(x.exp(k.z, g.Mj.Big()), sr)
	out = append(out, x.mulMod(v, x.exp(inner, c)))

	q := x.exp(tDeltaInv, c)
	for _, key := range geKeys[:Iteration] {
		q = x.mulMod(q, x.exp(g.T[key].Big(), g.U[key].Big()))
	}
	q = x.mulMod(q, x.exp(k.s, g.Alpha.Big()))
	return append(out, q), nil
}

// checkRanges refuses responses outside the ranges an honest prover produces (see the
// max…Bits bounds) and revealed values outside the message space ±2^256.
func checkRanges(pp *PrimaryProof) error {
	eq := &pp.EqProof
	if !nonNegBits(eq.E.Big(), maxEHatBits) || !nonNegBits(eq.V.Big(), maxVHatBits) || !nonNegBits(eq.M2.Big(), maxM2HatBits) {
		return refuse(ReasonProofInvalid, "ê, v̂ or m̂2 out of range")
	}
	for name, m := range eq.M {
		if !nonNegBits(m.Big(), maxMHatBits) {
			return refuse(ReasonProofInvalid, "m̂ of %q out of range", name)
		}
	}
	for name, m := range eq.RevealedAttrs {
		if m.Big().BitLen() > messageBits {
			return refuse(ReasonProofInvalid, "revealed value of %q out of range", name)
		}
	}
	for j := range pp.GeProofs {
		g := &pp.GeProofs[j]
		for _, key := range geKeys {
			if !nonNegBits(g.R[key].Big(), maxRHatBits) {
				return refuse(ReasonProofInvalid, "r̂[%s] out of range", key)
			}
			if key != "DELTA" && !nonNegBits(g.U[key].Big(), maxUHatBits) {
				return refuse(ReasonProofInvalid, "û[%s] out of range", key)
			}
		}
		if !nonNegBits(g.Alpha.Big(), maxAlphaHatBits) || !nonNegBits(g.Mj.Big(), maxMHatBits) {
			return refuse(ReasonProofInvalid, "α̂ or m̂_j out of range")
		}
	}
	return nil
}
