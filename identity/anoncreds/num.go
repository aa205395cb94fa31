package anoncreds

import (
	"bytes"
	"math/big"
)

// MaxDecimalDigits bounds every decimal number this package reads (about 4,300 bits, above
// the largest response an honest prover sends, v̂ at about 3,060 bits). Each field has a
// tighter bound checked after parsing.
const MaxDecimalDigits = 1300

// Num is a big integer written in AnonCreds JSON as a string of decimal digits, optionally
// signed. Its zero value is "absent"; Set reports whether the JSON carried a value.
type Num struct {
	v   big.Int
	set bool
}

// NumOf returns a Num holding a copy of x.
func NumOf(x *big.Int) *Num {
	n := &Num{set: true}
	n.v.Set(x)
	return n
}

// Big returns the value. The caller must not modify it.
func (n *Num) Big() *big.Int {
	if n == nil {
		return new(big.Int)
	}
	return &n.v
}

// Set reports whether the number was present.
func (n *Num) Set() bool { return n != nil && n.set }

// String is the decimal form.
func (n *Num) String() string { return n.Big().String() }

// UnmarshalJSON accepts only a JSON string of decimal digits with an optional leading '-'
// and no leading zeros beyond a single "0": the form every AnonCreds implementation writes.
// Hex, exponents, '+' signs, spaces and bare JSON numbers are refused.
func (n *Num) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return refuse(ReasonMalformed, "number must be a decimal string")
	}
	v, err := parseDecimal(b[1 : len(b)-1])
	if err != nil {
		return err
	}
	n.v.Set(v)
	n.set = true
	return nil
}

// MarshalJSON writes the decimal string.
func (n Num) MarshalJSON() ([]byte, error) {
	s := n.v.String()
	out := make([]byte, 0, len(s)+2)
	out = append(out, '"')
	out = append(out, s...)
	return append(out, '"'), nil
}

// parseDecimal parses a canonical decimal integer (optionally negative).
func parseDecimal(s []byte) (*big.Int, error) {
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return nil, refuse(ReasonMalformed, "empty number")
	}
	if len(digits) > MaxDecimalDigits {
		return nil, refuse(ReasonMalformed, "number has more than %d digits", MaxDecimalDigits)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return nil, refuse(ReasonMalformed, "number is not decimal")
		}
	}
	if len(digits) > 1 && digits[0] == '0' {
		return nil, refuse(ReasonMalformed, "number has a leading zero")
	}
	if len(digits) != len(s) && bytes.Equal(digits, []byte("0")) {
		return nil, refuse(ReasonMalformed, "negative zero")
	}
	v, ok := new(big.Int).SetString(string(s), 10)
	if !ok {
		return nil, refuse(ReasonMalformed, "number is not decimal")
	}
	return v, nil
}

// ParseDecimal parses a canonical decimal string (as used for nonces and encoded values).
func ParseDecimal(s string) (*big.Int, error) { return parseDecimal([]byte(s)) }
