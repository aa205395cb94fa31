package rfcholder

import (
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/mr-tron/base58"
	"golang.org/x/crypto/curve25519"
)

// RFC 0019 envelopes name Ed25519 verification keys ("verkeys", base58) and encrypt with
// crypto_box, which needs X25519 keys: libsodium's crypto_sign_ed25519_pk_to_curve25519 and
// crypto_sign_ed25519_sk_to_curve25519 convert them. Both are done here with math/big and
// the standard library (filippo.io/edwards25519 is not in this module's graph).

var (
	// fieldP is 2^255 - 19, the prime of both curves.
	fieldP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	// edwardsD is -121665/121666 mod p, the constant of the twisted Edwards curve.
	edwardsD = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), fieldP)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, fieldP)
	}()
	one = big.NewInt(1)
)

// x25519Public converts an Ed25519 public key to its X25519 (Montgomery) form, u = (1+y)/(1-y).
// Like libsodium it refuses byte strings that are not points of the curve, and the identity.
func x25519Public(pub []byte) (*[32]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	le := make([]byte, 32)
	copy(le, pub)
	sign := le[31] >> 7
	le[31] &= 0x7f
	y := new(big.Int).SetBytes(reverse(le))
	if y.Cmp(fieldP) >= 0 {
		return nil, errors.New("ed25519 public key is not canonical")
	}
	// The point exists if x² = (y² - 1) / (d·y² + 1) has a square root.
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, fieldP)
	num := new(big.Int).Sub(y2, one)
	num.Mod(num, fieldP)
	den := new(big.Int).Mul(edwardsD, y2)
	den.Add(den, one)
	den.Mod(den, fieldP)
	denInv := new(big.Int).ModInverse(den, fieldP)
	if denInv == nil {
		return nil, errors.New("ed25519 public key is not on the curve")
	}
	x2 := num.Mul(num, denInv)
	x2.Mod(x2, fieldP)
	if x2.Sign() == 0 {
		if sign == 1 {
			return nil, errors.New("ed25519 public key is not on the curve")
		}
	} else if new(big.Int).Exp(x2, new(big.Int).Rsh(new(big.Int).Sub(fieldP, one), 1), fieldP).Cmp(one) != 0 {
		return nil, errors.New("ed25519 public key is not on the curve")
	}
	oneMinusY := new(big.Int).Sub(one, y)
	oneMinusY.Mod(oneMinusY, fieldP)
	inv := new(big.Int).ModInverse(oneMinusY, fieldP)
	if inv == nil {
		return nil, errors.New("ed25519 public key is the identity point")
	}
	u := new(big.Int).Add(one, y)
	u.Mul(u, inv)
	u.Mod(u, fieldP)
	var out [32]byte
	b := u.Bytes() // big-endian, at most 32 bytes
	for i := range b {
		out[i] = b[len(b)-1-i]
	}
	return &out, nil
}

// x25519Private converts an Ed25519 private key to the X25519 scalar of the same key pair:
// the first half of SHA-512(seed) (clamped by every X25519 implementation).
func x25519Private(priv ed25519.PrivateKey) *[32]byte {
	h := sha512.Sum512(priv.Seed())
	var out [32]byte
	copy(out[:], h[:32])
	out[0] &= 248
	out[31] &= 127
	out[31] |= 64
	return &out
}

// checkShared refuses a public key whose shared secret with priv is all zeros (a low-order
// point): crypto_box would then encrypt under a key anyone knows.
func checkShared(priv, pub *[32]byte) error {
	if _, err := curve25519.X25519(priv[:], pub[:]); err != nil {
		return fmt.Errorf("unusable X25519 public key: %w", err)
	}
	return nil
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[i] = b[len(b)-1-i]
	}
	return out
}

// ed25519Multicodec is the multicodec prefix of an Ed25519 public key (0xed, as a varint).
var ed25519Multicodec = []byte{0xed, 0x01}

// DIDKey returns the did:key of an Ed25519 public key.
func DIDKey(pub ed25519.PublicKey) string {
	return "did:key:z" + base58.Encode(append(append([]byte{}, ed25519Multicodec...), pub...))
}

// ParseDIDKey returns the Ed25519 public key of a did:key (a fragment, if any, must repeat the
// method-specific id, as in did:key:z6Mk…#z6Mk…).
func ParseDIDKey(did string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(did, "did:key:")
	if !ok {
		return nil, fmt.Errorf("%q is not a did:key", clip(did))
	}
	id, frag, hasFrag := strings.Cut(rest, "#")
	if hasFrag && frag != id {
		return nil, fmt.Errorf("%q: fragment does not name the key", clip(did))
	}
	if !strings.HasPrefix(id, "z") {
		return nil, fmt.Errorf("%q is not base58btc multibase", clip(did))
	}
	raw, err := base58.Decode(id[1:])
	if err != nil {
		return nil, fmt.Errorf("%q: %w", clip(did), err)
	}
	if len(raw) != len(ed25519Multicodec)+ed25519.PublicKeySize || raw[0] != ed25519Multicodec[0] || raw[1] != ed25519Multicodec[1] {
		return nil, fmt.Errorf("%q is not an Ed25519 did:key", clip(did))
	}
	return ed25519.PublicKey(raw[2:]), nil
}

// verkey is the base58 form of an Ed25519 public key that RFC 0019 puts in kid and sender.
func verkey(pub ed25519.PublicKey) string { return base58.Encode(pub) }

func parseVerkey(s string) (ed25519.PublicKey, error) {
	raw, err := base58.Decode(s)
	if err != nil {
		return nil, fmt.Errorf("verkey %q: %w", clip(s), err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("verkey %q is %d bytes, want %d", clip(s), len(raw), ed25519.PublicKeySize)
	}
	return raw, nil
}

// clip keeps untrusted values short in error messages.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
