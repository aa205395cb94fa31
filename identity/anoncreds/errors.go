package anoncreds

import "fmt"

// Reason is the stable, machine-readable code of a refused presentation or of an input this
// package cannot use. Callers map it to their own codes; the values never change meaning.
type Reason string

// Refusal reasons. Each names one kind of check.
const (
	// ReasonMalformed: an input is not well-formed AnonCreds JSON (bad JSON, too large, too
	// deep, a number that is not a decimal string or is out of its range, a missing member).
	ReasonMalformed Reason = "malformed"
	// ReasonMissingDefinition: the presentation names a schema or credential definition the
	// caller did not supply.
	ReasonMissingDefinition Reason = "missing_definition"
	// ReasonRequestMismatch: the presentation does not answer the request (a requested
	// attribute is missing or answered twice, a self-attested answer where the request
	// restricts the source, a restriction is not met).
	ReasonRequestMismatch Reason = "request_mismatch"
	// ReasonEncodingMismatch: a revealed raw value does not encode to the value the issuer
	// signed, or the encoded value in requested_proof differs from the one in the proof.
	ReasonEncodingMismatch Reason = "encoding_mismatch"
	// ReasonPredicateFailed: a requested predicate is not proven by the sub-proof that claims
	// it (no predicate proof for that attribute, type and value).
	ReasonPredicateFailed Reason = "predicate_failed"
	// ReasonProofInvalid: the CL proof is inconsistent before its challenge is even checked
	// (a response out of its range, a commitment list that does not match the proof, a group
	// element outside Z*_n, a link secret that differs between sub-proofs).
	ReasonProofInvalid Reason = "proof_invalid"
	// ReasonChallengeMismatch: the challenge recomputed from the proof, the issuer's keys and
	// the request's nonce differs from c_hash: the proof is forged, tampered with, made for
	// another nonce or another key.
	ReasonChallengeMismatch Reason = "challenge_mismatch"
	// ReasonRevocationUnsupported: the request asks for non-revocation of a revocable
	// credential, or the presentation carries a non-revocation proof. Verifying either needs
	// the BN254 pairing AnonCreds uses, which this package does not implement.
	ReasonRevocationUnsupported Reason = "revocation_unsupported"
)

// Error is a refusal with its reason. Detail is for logs; it never contains secrets, but it
// may name attributes and referents from the presentation.
type Error struct {
	Reason Reason
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return "anoncreds: " + string(e.Reason)
	}
	return "anoncreds: " + string(e.Reason) + ": " + e.Detail
}

// Is reports whether target is an *Error with the same reason, so errors.Is(err,
// anoncreds.ErrProofInvalid) works whatever the detail.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Sentinels for errors.Is, one per reason.
var (
	ErrMalformed             = &Error{Reason: ReasonMalformed}
	ErrMissingDefinition     = &Error{Reason: ReasonMissingDefinition}
	ErrRequestMismatch       = &Error{Reason: ReasonRequestMismatch}
	ErrEncodingMismatch      = &Error{Reason: ReasonEncodingMismatch}
	ErrPredicateFailed       = &Error{Reason: ReasonPredicateFailed}
	ErrProofInvalid          = &Error{Reason: ReasonProofInvalid}
	ErrChallengeMismatch     = &Error{Reason: ReasonChallengeMismatch}
	ErrRevocationUnsupported = &Error{Reason: ReasonRevocationUnsupported}
)

func refuse(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Detail: fmt.Sprintf(format, args...)}
}
