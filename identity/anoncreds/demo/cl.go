package demo

import (
	"io"
	"math/big"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// builder collects the sub-proofs of a presentation, one per credential used.
type builder struct {
	subs     []*subSpec
	byCred   map[*Credential]int
	secretOf func(*Credential) *LinkSecret
}

type subSpec struct {
	cred     *Credential
	revealed map[string]bool // common-view names
	preds    []anoncreds.Predicate

	// first round
	n                         *big.Int
	aPrime, r, eTilde, vTilde *big.Int
	mTilde                    map[string]*big.Int
	m2Tilde                   *big.Int
	values                    map[string]*big.Int // encoded, common view, with the link secret
	ge                        []*geInit
}

type geInit struct {
	pred                    anoncreds.Predicate
	u, r, t, uTilde, rTilde map[string]*big.Int
	alphaTilde              *big.Int
}

func (b *builder) sub(c *Credential) int {
	if i, ok := b.byCred[c]; ok {
		return i
	}
	b.subs = append(b.subs, &subSpec{cred: c, revealed: map[string]bool{}})
	b.byCred[c] = len(b.subs) - 1
	return len(b.subs) - 1
}

var geKeys = []string{"0", "1", "2", "3", "DELTA"}

// prove runs both rounds of the reference prover: commitments (T, A', the predicate
// commitments and their τ values), the challenge c = H(τ ‖ c_list ‖ nonce), then the
// responses.
func (b *builder) prove(random io.Reader, nonce *big.Int) (*anoncreds.Proof, error) {
	msTilde, err := randBits(random, anoncreds.LargeMVect) // shared: binds the sub-proofs
	if err != nil {
		return nil, err
	}
	var tau, clist [][]byte
	for _, s := range b.subs {
		t, cl, err := s.commit(random, b.secretOf(s.cred), msTilde)
		if err != nil {
			return nil, err
		}
		tau = append(tau, t...)
		clist = append(clist, cl...)
	}
	c := anoncreds.ChallengeHash(tau, clist, nonce)
	proof := &anoncreds.Proof{AggregatedProof: anoncreds.AggregatedProof{CHash: anoncreds.NumOf(c), CList: clist}}
	for _, s := range b.subs {
		proof.Proofs = append(proof.Proofs, anoncreds.SubProof{PrimaryProof: s.respond(c)})
	}
	return proof, nil
}

func (s *subSpec) commit(random io.Reader, ls *LinkSecret, msTilde *big.Int) (tau, clist [][]byte, err error) {
	pk, c := s.cred.Public, s.cred
	n := pk.N.Big()
	s.n = n
	exp := func(b, e *big.Int) *big.Int { return expSigned(b, e, n) }
	mul := func(a, b *big.Int) *big.Int { r := new(big.Int).Mul(a, b); return r.Mod(r, n) }
	rnd := func(bits int) *big.Int {
		if err != nil {
			return new(big.Int)
		}
		var v *big.Int
		v, err = randBits(random, bits)
		return v
	}

	s.values = map[string]*big.Int{linkSecretAttr: ls.v}
	for name, raw := range c.Raw {
		s.values[commonView(name)] = anoncreds.Encode(raw)
	}
	s.r, s.eTilde, s.vTilde, s.m2Tilde = rnd(anoncreds.LargeVPrime), rnd(anoncreds.LargeETilde), rnd(anoncreds.LargeVTilde), rnd(anoncreds.LargeM2Tilde)
	s.mTilde = map[string]*big.Int{}
	for name := range s.values {
		if s.revealed[name] {
			continue
		}
		if name == linkSecretAttr {
			s.mTilde[name] = msTilde
		} else {
			s.mTilde[name] = rnd(anoncreds.LargeMVect)
		}
	}
	if err != nil {
		return nil, nil, err
	}
	// A' = A·S^r;  T = A'^ẽ · ∏_hidden R_j^m̃_j · S^ṽ · Rctxt^m̃2
	s.aPrime = mul(c.A, exp(pk.S.Big(), s.r))
	t := exp(s.aPrime, s.eTilde)
	for _, name := range sortedKeys(s.mTilde) {
		t = mul(t, exp(pk.R[name].Big(), s.mTilde[name]))
	}
	t = mul(t, exp(pk.S.Big(), s.vTilde))
	t = mul(t, exp(pk.Rctxt.Big(), s.m2Tilde))
	tau = append(tau, t.Bytes())
	clist = append(clist, s.aPrime.Bytes())

	for _, p := range s.preds {
		v := s.values[p.AttrName]
		g := &geInit{pred: p, u: map[string]*big.Int{}, r: map[string]*big.Int{}, t: map[string]*big.Int{},
			uTilde: map[string]*big.Int{}, rTilde: map[string]*big.Int{}}
		d := delta(p, v.Int64())
		sq := fourSquares(d)
		z, sBase := pk.Z.Big(), pk.S.Big()
		for i, key := range geKeys {
			g.r[key] = rnd(anoncreds.LargeVPrime)
			g.rTilde[key] = rnd(anoncreds.LargeRTilde)
			if key == "DELTA" {
				g.t[key] = mul(exp(z, big.NewInt(d)), exp(sBase, g.r[key]))
			} else {
				g.u[key] = big.NewInt(sq[i])
				g.uTilde[key] = rnd(anoncreds.LargeUTilde)
				g.t[key] = mul(exp(z, g.u[key]), exp(sBase, g.r[key]))
			}
		}
		g.alphaTilde = rnd(anoncreds.LargeAlphaTilde)
		if err != nil {
			return nil, nil, err
		}
		// τ_i = Z^ũ_i S^r̃_i;  τ_Δ = Z^m̃_j S^(±r̃_Δ);  τ_Q = ∏ T_i^ũ_i · S^α̃
		for _, key := range geKeys[:4] {
			tau = append(tau, mul(exp(z, g.uTilde[key]), exp(sBase, g.rTilde[key])).Bytes())
		}
		rd := g.rTilde["DELTA"]
		if p.PType == "LE" || p.PType == "LT" {
			rd = new(big.Int).Neg(rd)
		}
		tau = append(tau, mul(exp(z, s.mTilde[p.AttrName]), exp(sBase, rd)).Bytes())
		q := exp(sBase, g.alphaTilde)
		for _, key := range geKeys[:4] {
			q = mul(q, exp(g.t[key], g.uTilde[key]))
		}
		tau = append(tau, q.Bytes())
		for _, key := range geKeys {
			clist = append(clist, g.t[key].Bytes())
		}
		s.ge = append(s.ge, g)
	}
	return tau, clist, nil
}

// respond computes the responses x̂ = x̃ + c·x.
func (s *subSpec) respond(c *big.Int) anoncreds.PrimaryProof {
	resp := func(tilde, secret *big.Int) *big.Int {
		r := new(big.Int).Mul(c, secret)
		return r.Add(r, tilde)
	}
	eStart := new(big.Int).Lsh(one, anoncreds.LargeEStart)
	ePrime := new(big.Int).Sub(s.cred.E, eStart)
	vPrime := new(big.Int).Sub(s.cred.V, new(big.Int).Mul(s.cred.E, s.r))
	eq := anoncreds.EqProof{
		RevealedAttrs: map[string]*anoncreds.Num{},
		APrime:        anoncreds.NumOf(s.aPrime),
		E:             anoncreds.NumOf(resp(s.eTilde, ePrime)),
		V:             anoncreds.NumOf(resp(s.vTilde, vPrime)),
		M:             map[string]*anoncreds.Num{},
		M2:            anoncreds.NumOf(resp(s.m2Tilde, s.cred.M2)),
	}
	for name, v := range s.values {
		if s.revealed[name] {
			eq.RevealedAttrs[name] = anoncreds.NumOf(v)
		} else {
			eq.M[name] = anoncreds.NumOf(resp(s.mTilde[name], v))
		}
	}
	pp := anoncreds.PrimaryProof{EqProof: eq, GeProofs: []anoncreds.GeProof{}}
	for _, g := range s.ge {
		gp := anoncreds.GeProof{U: map[string]*anoncreds.Num{}, R: map[string]*anoncreds.Num{}, T: map[string]*anoncreds.Num{},
			Mj: eq.M[g.pred.AttrName], Predicate: g.pred}
		urSum := new(big.Int)
		for _, key := range geKeys {
			gp.R[key] = anoncreds.NumOf(resp(g.rTilde[key], g.r[key]))
			gp.T[key] = anoncreds.NumOf(g.t[key])
			if key != "DELTA" {
				gp.U[key] = anoncreds.NumOf(resp(g.uTilde[key], g.u[key]))
				urSum.Add(urSum, new(big.Int).Mul(g.u[key], g.r[key]))
			}
		}
		gp.Alpha = anoncreds.NumOf(resp(g.alphaTilde, new(big.Int).Sub(g.r["DELTA"], urSum)))
		pp.GeProofs = append(pp.GeProofs, gp)
	}
	return pp
}

// fourSquares writes d >= 0 as a² + b² + c² + e² (Lagrange), largest squares first.
func fourSquares(d int64) [4]int64 {
	for a := isqrt(d); a >= 0; a-- {
		r1 := d - a*a
		for b := isqrt(r1); b >= 0; b-- {
			r2 := r1 - b*b
			for c := isqrt(r2); c >= 0; c-- {
				r3 := r2 - c*c
				if e := isqrt(r3); e*e == r3 {
					return [4]int64{a, b, c, e}
				}
				if c < isqrt(r2)-64 {
					break
				}
			}
			if b < isqrt(r1)-64 {
				break
			}
		}
	}
	// The bounded search above almost always succeeds; this one always does.
	for a := isqrt(d); a >= 0; a-- {
		for b := isqrt(d - a*a); b >= 0; b-- {
			for c := isqrt(d - a*a - b*b); c >= 0; c-- {
				r := d - a*a - b*b - c*c
				if e := isqrt(r); e*e == r {
					return [4]int64{a, b, c, e}
				}
			}
		}
	}
	return [4]int64{}
}

func isqrt(x int64) int64 {
	if x <= 0 {
		return 0
	}
	r := new(big.Int).Sqrt(big.NewInt(x))
	return r.Int64()
}
