// Package confirm is the cross-device confirmation code: a short code the customer's page shows
// and the wallet shows too, so that a customer who scanned somebody else's QR code (a phishing
// page relaying the service's invitation) can see that the two screens disagree.
//
// The code travels as text a person reads — the out-of-band invitation's goal and the
// present-proof request's comment — ending in the sentence Text makes; Find reads it back so
// that a wallet can compare it with the code its owner expects. The code is not a secret and
// not a key: it only helps a customer who looks (a phishing page can show the real code too).
//
// confirm depends on the standard library only.
package confirm

import (
	"crypto/rand"
	"errors"
	"strings"
)

// Alphabet is the codes' alphabet: digits and capital letters without 0, O, 1 and I, which
// are easily mistaken for one another. Its 32 letters make every letter equally likely.
const Alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// Length is the number of letters of a code.
const Length = 4

// phrase precedes the code in Text.
const phrase = "Check that your screen shows "

// ErrInvalid is returned for text that is not a code (wrong length or letters).
var ErrInvalid = errors.New("not a confirmation code: want 4 of " + Alphabet)

// New returns a fresh code drawn from crypto/rand.
func New() string {
	var b [Length]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	for i := range b {
		b[i] = Alphabet[b[i]&31] // 256 is a multiple of 32: uniform
	}
	return string(b[:])
}

// Parse normalises what a person typed (spaces around it, lower case) into a code, or returns
// ErrInvalid.
func Parse(s string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(s))
	if !Valid(code) {
		return "", ErrInvalid
	}
	return code, nil
}

// Valid reports whether code is a well-formed code.
func Valid(code string) bool {
	if len(code) != Length {
		return false
	}
	for i := 0; i < len(code); i++ {
		if strings.IndexByte(Alphabet, code[i]) < 0 {
			return false
		}
	}
	return true
}

// Text is the sentence a wallet shows with the code: "Check that your screen shows K7QF".
func Text(code string) string { return phrase + code }

// With appends Text(code) to a goal or comment; an empty code leaves text as it is.
func With(text, code string) string {
	if code == "" {
		return text
	}
	if text == "" {
		return Text(code)
	}
	return strings.TrimRight(text, " ") + " — " + Text(code)
}

// Find returns the code a goal or comment made by With carries. It reads the last occurrence
// of the sentence, and only a well-formed code that ends the sentence (followed by the end of
// the text or by something that is not a letter or digit).
func Find(text string) (string, bool) {
	i := strings.LastIndex(text, phrase)
	if i < 0 {
		return "", false
	}
	rest := text[i+len(phrase):]
	if len(rest) < Length {
		return "", false
	}
	code := rest[:Length]
	if !Valid(code) {
		return "", false
	}
	if len(rest) > Length {
		if c := rest[Length]; c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || c >= 0x80 {
			return "", false
		}
	}
	return code, true
}
