// Package demo issues AnonCreds (CL-signature) credentials and builds presentations from
// them, for tests and for the demo wallet. It is not a production issuer or wallet: it
// skips the correctness proofs of issuance (key correctness, blinded secret correctness,
// signature correctness) that protect a holder from a dishonest issuer and the other way
// round, it has no revocation, and it keeps secrets in plain *big.Int values.
//
// What it produces follows the AnonCreds wire format and the reference prover
// (anoncreds-clsignatures-rs prover.rs), so anoncreds.Verify accepts it; tests use it to
// build presentations with predicates of every type. It depends on the standard library and
// on identity/anoncreds only.
package demo

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"math/big"
	"sort"
	"strings"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

const linkSecretAttr = "master_secret"

var one = big.NewInt(1)

// IssuerKey is an issuer's CL key pair for one schema.
type IssuerKey struct {
	Public         anoncreds.PrimaryPublicKey
	pPrime, qPrime *big.Int // n = (2p'+1)(2q'+1); the group of quadratic residues has order p'q'
}

// NewIssuerKey builds a key from the Sophie Germain primes p' and q' of the safe primes
// p = 2p'+1, q = 2q'+1 and fresh random bases for the attributes. Generating 1024-bit safe
// primes takes minutes in Go; tests pass fixed ones (see KeyFromParts for a key whose
// public part is fixed too).
func NewIssuerKey(random io.Reader, pPrime, qPrime *big.Int, attrNames []string) (*IssuerKey, error) {
	if random == nil {
		random = rand.Reader
	}
	p := new(big.Int).Lsh(pPrime, 1)
	p.Add(p, one)
	q := new(big.Int).Lsh(qPrime, 1)
	q.Add(q, one)
	n := new(big.Int).Mul(p, q)
	order := new(big.Int).Mul(pPrime, qPrime)
	// S generates the quadratic residues (w.h.p.); Z and R_i are S to random powers.
	x, err := rand.Int(random, n)
	if err != nil {
		return nil, err
	}
	s := new(big.Int).Exp(x, big.NewInt(2), n)
	pow := func() (*anoncreds.Num, error) {
		e, err := rand.Int(random, order)
		if err != nil {
			return nil, err
		}
		e.Add(e, big.NewInt(2))
		return anoncreds.NumOf(new(big.Int).Exp(s, e, n)), nil
	}
	k := &IssuerKey{pPrime: pPrime, qPrime: qPrime}
	k.Public.N, k.Public.S = anoncreds.NumOf(n), anoncreds.NumOf(s)
	if k.Public.Z, err = pow(); err != nil {
		return nil, err
	}
	if k.Public.Rctxt, err = pow(); err != nil {
		return nil, err
	}
	k.Public.R = map[string]*anoncreds.Num{}
	for _, a := range append([]string{linkSecretAttr}, attrNames...) {
		if k.Public.R[commonView(a)], err = pow(); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// KeyFromParts pairs a published primary key with its secret p', q' (as in
// anoncreds-clsignatures-rs's test mocks), checking that they belong together.
func KeyFromParts(pub anoncreds.PrimaryPublicKey, pPrime, qPrime *big.Int) (*IssuerKey, error) {
	p := new(big.Int).Add(new(big.Int).Lsh(pPrime, 1), one)
	q := new(big.Int).Add(new(big.Int).Lsh(qPrime, 1), one)
	if new(big.Int).Mul(p, q).Cmp(pub.N.Big()) != 0 {
		return nil, errors.New("demo: p', q' do not factor n")
	}
	return &IssuerKey{Public: pub, pPrime: pPrime, qPrime: qPrime}, nil
}

// CredentialDefinition wraps the public key as a credential definition for schemaID.
func (k *IssuerKey) CredentialDefinition(id, schemaID string) *anoncreds.CredentialDefinition {
	return &anoncreds.CredentialDefinition{ID: id, SchemaID: schemaID, Type: "CL", Tag: "demo",
		Value: anoncreds.CredentialDefinitionValue{Primary: k.Public}}
}

// LinkSecret is a holder's link secret, the hidden attribute that binds all its credentials.
type LinkSecret struct{ v *big.Int }

// NewLinkSecret draws a 256-bit link secret.
func NewLinkSecret(random io.Reader) (*LinkSecret, error) {
	v, err := randBits(random, 256)
	return &LinkSecret{v: v}, err
}

// BlindedSecret is what a holder sends the issuer: U = S^v' · R_ms^ms, hiding its link
// secret; BlindingFactor (v') stays with the holder.
type BlindedSecret struct {
	U              *big.Int
	BlindingFactor *big.Int
}

// Blind commits to the link secret for issuance under pub.
func (ls *LinkSecret) Blind(random io.Reader, pub *anoncreds.PrimaryPublicKey) (*BlindedSecret, error) {
	vPrime, err := randBits(random, anoncreds.LargeVPrime)
	if err != nil {
		return nil, err
	}
	n := pub.N.Big()
	u := new(big.Int).Exp(pub.S.Big(), vPrime, n)
	u.Mul(u, new(big.Int).Exp(pub.R[linkSecretAttr].Big(), ls.v, n)).Mod(u, n)
	return &BlindedSecret{U: u, BlindingFactor: vPrime}, nil
}

// Signature is a CL signature (A, e, v”) on the credential's values and context m2; the
// holder's v is v' + v”.
type Signature struct {
	A, E, VPrimePrime, M2 *big.Int
}

// Sign signs raw attribute values (encoded with anoncreds.Encode) and a blinded link secret.
// proverID feeds the credential context m2 as in the reference issuer.
func (k *IssuerKey) Sign(random io.Reader, raw map[string]string, blinded *anoncreds.Num, proverID string) (*Signature, error) {
	n := k.Public.N.Big()
	m2 := credentialContext(proverID)
	vpp, err := randBits(random, anoncreds.LargeVPrimePrime-1)
	if err != nil {
		return nil, err
	}
	vpp.SetBit(vpp, anoncreds.LargeVPrimePrime-1, 1)
	// Q = Z / (U · S^v'' · ∏ R_i^m_i · Rctxt^m2)
	den := new(big.Int).Mul(blinded.Big(), new(big.Int).Exp(k.Public.S.Big(), vpp, n))
	den.Mod(den, n)
	for name, v := range raw {
		r, ok := k.Public.R[commonView(name)]
		if !ok || commonView(name) == linkSecretAttr {
			return nil, errors.New("demo: no base for attribute " + name)
		}
		den.Mul(den, expSigned(r.Big(), anoncreds.Encode(v), n)).Mod(den, n)
	}
	if len(raw)+1 != len(k.Public.R) {
		return nil, errors.New("demo: values do not cover the credential's attributes")
	}
	den.Mul(den, new(big.Int).Exp(k.Public.Rctxt.Big(), m2, n)).Mod(den, n)
	q := new(big.Int).ModInverse(den, n)
	if q == nil {
		return nil, errors.New("demo: degenerate blinded secret")
	}
	q.Mul(q, k.Public.Z.Big()).Mod(q, n)
	order := new(big.Int).Mul(k.pPrime, k.qPrime)
	for {
		e, err := primeInRange(random)
		if err != nil {
			return nil, err
		}
		d := new(big.Int).ModInverse(e, order)
		if d == nil {
			continue
		}
		return &Signature{A: new(big.Int).Exp(q, d, n), E: e, VPrimePrime: vpp, M2: m2}, nil
	}
}

// primeInRange returns a prime e = 2^596 + e', 0 <= e' < 2^119.
func primeInRange(random io.Reader) (*big.Int, error) {
	for {
		e, err := randBits(random, anoncreds.LargeEEndRange)
		if err != nil {
			return nil, err
		}
		e.SetBit(e, anoncreds.LargeEStart, 1).SetBit(e, 0, 1)
		if e.ProbablyPrime(20) {
			return e, nil
		}
	}
}

// credentialContext is m2: SHA-256 of the prover id and of "-1" (no revocation index).
func credentialContext(proverID string) *big.Int {
	a := sha256.Sum256([]byte(proverID))
	b := sha256.Sum256([]byte("-1"))
	h := sha256.Sum256(append(a[:], b[:]...))
	return new(big.Int).SetBytes(h[:])
}

func randBits(random io.Reader, bits int) (*big.Int, error) {
	if random == nil {
		random = rand.Reader
	}
	return rand.Int(random, new(big.Int).Lsh(one, uint(bits)))
}

func expSigned(b, e, n *big.Int) *big.Int {
	if e.Sign() >= 0 {
		return new(big.Int).Exp(b, e, n)
	}
	inv := new(big.Int).ModInverse(b, n)
	if inv == nil {
		return big.NewInt(0)
	}
	return new(big.Int).Exp(inv, new(big.Int).Neg(e), n)
}

func commonView(s string) string { return strings.ToLower(strings.ReplaceAll(s, " ", "")) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
