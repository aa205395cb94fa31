package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/big"
)

// Signature algorithms, by their JOSE names.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
)

// algFor returns the JOSE algorithm a key of curve signs with.
func algFor(c Curve) string {
	switch c {
	case CurveEd25519:
		return AlgEdDSA
	case CurveP256:
		return AlgES256
	}
	return ""
}

// verifySignature checks a JOSE-style signature (Ed25519, or P-256 as r||s over SHA-256) made
// by m's key over data with alg. The algorithm must be the key's: no algorithm confusion.
func verifySignature(m VerificationMethod, alg string, data, sig []byte) error {
	if alg != algFor(m.KeyCurve()) {
		return errors.New("the algorithm is not the key's")
	}
	switch m.KeyCurve() {
	case CurveEd25519:
		if len(m.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(m.PublicKey, data, sig) {
			return errors.New("signature does not verify")
		}
		return nil
	case CurveP256:
		pub, err := ecdsaKey(m.PublicKey)
		if err != nil {
			return err
		}
		if len(sig) != 64 {
			return errors.New("an ES256 signature is 64 bytes")
		}
		h := sha256.Sum256(data)
		if !ecdsa.Verify(pub, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	return errors.New("the key cannot verify this signature")
}
