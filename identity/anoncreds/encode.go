package anoncreds

import (
	"crypto/sha256"
	"math"
	"math/big"
	"strconv"
)

// Encode returns the standard AnonCreds encoding of a raw attribute value, the integer an
// issuer signs: a raw value that is a 32-bit signed integer encodes as that integer, any
// other string as SHA-256(raw) read as a big-endian unsigned integer.
//
// "Is a 32-bit integer" is the rule anoncreds-rs applies (Rust's i32::from_str): an optional
// '+' or '-' followed by ASCII digits, leading zeros allowed, within [-2^31, 2^31-1]. ACA-Py
// (Python int()) and Credo (JavaScript Number()) agree on every such string; they also read a
// few others as integers (" 7", "1_000" in Python; "7.0", "0x10", "1e3" in JavaScript). For
// those this function hashes, as anoncreds-rs does, so a credential whose issuer read them as
// integers fails the encoding check: a refusal, never a wrong value accepted.
func Encode(raw string) *big.Int {
	if v, ok := int32Value(raw); ok {
		return big.NewInt(v)
	}
	sum := sha256.Sum256([]byte(raw))
	return new(big.Int).SetBytes(sum[:])
}

func int32Value(raw string) (int64, bool) {
	s := raw
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxInt32 {
		return 0, false
	}
	return v, true
}

// EncodingMatches reports whether encoded is the standard encoding of raw.
func EncodingMatches(raw string, encoded *big.Int) bool {
	return Encode(raw).Cmp(encoded) == 0
}
