// Package identity is everything about DIDs and credentials: verification policies, DID
// resolution, the JSON-LD contexts the verifier knows (embedded: verification never fetches a
// context), and the verifier that decides whether a presentation proves who a customer is.
//
// identity does not know about sessions, storage, HTTP or Twilio; it must never import broker,
// api or flex. Its sub-packages hold, among others, the DIDComm agent (didcomm). The
// development issuer and the demo holder wallet are development tools, not verification code:
// they live in internal/demo/issuer and internal/demo/wallet, and only tests here import them.
package identity

import (
	"errors"
	"fmt"
)

// Reason is the stable, machine-readable code of a rejected presentation. The values are part
// of the public interface: API clients, wallets (in DIDComm problem reports) and CRM webhooks
// see them. Add new ones; never rename one.
type Reason string

// Rejection reasons. Each is produced by exactly one kind of check.
const (
	// ReasonMalformed: not a parseable presentation (bad JSON, too large, too deep, bad
	// JSON-LD, undefined terms, missing required members).
	ReasonMalformed Reason = "malformed"
	// ReasonUnsupportedFormat: a presentation or proof format this service does not verify.
	ReasonUnsupportedFormat Reason = "unsupported_format"
	// ReasonMissingProof: the presentation or a credential in it carries no proof at all.
	ReasonMissingProof Reason = "missing_proof"
	// ReasonBadSignature: a proof does not verify against the key it names.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonChallengeMismatch: the presentation proof's challenge is not this session's nonce.
	ReasonChallengeMismatch Reason = "challenge_mismatch"
	// ReasonDomainMismatch: the presentation proof's domain is not this service's identifier.
	ReasonDomainMismatch Reason = "domain_mismatch"
	// ReasonHolderMismatch: the presentation is not signed by its holder, or the credential's
	// subject is neither the holder nor the DIDComm connection's DID.
	ReasonHolderMismatch Reason = "holder_mismatch"
	// ReasonIssuerMismatch: a credential's proof is made with a key that is not its issuer's.
	ReasonIssuerMismatch Reason = "issuer_mismatch"
	// ReasonUntrustedIssuer: the issuer is not trusted by the policy for that credential type.
	ReasonUntrustedIssuer Reason = "untrusted_issuer"
	// ReasonExpiredCredential: the credential's validity period has ended.
	ReasonExpiredCredential Reason = "expired_credential"
	// ReasonNotYetValid: the credential's validity period has not started.
	ReasonNotYetValid Reason = "not_yet_valid"
	// ReasonMissingCredential: no credential of the type the policy asks for was presented.
	ReasonMissingCredential Reason = "missing_credential"
	// ReasonMissingClaim: the credential lacks a claim the policy requires.
	ReasonMissingClaim Reason = "missing_claim"
	// ReasonReplayed: this presentation (or its challenge) was already used.
	ReasonReplayed Reason = "replayed"
	// ReasonUnsupportedDIDMethod: a DID uses a method this service does not resolve.
	ReasonUnsupportedDIDMethod Reason = "unsupported_did_method"
	// ReasonUnresolvableDID: a DID or key could not be resolved.
	ReasonUnresolvableDID Reason = "unresolvable_did"
	// ReasonDeclined: the wallet declined to present (it sent a problem report).
	ReasonDeclined Reason = "declined"
	// ReasonConfirmationMismatch: the wallet declined because the confirmation code it was
	// given (the invitation's goal, the request's comment) is not the one its owner expected
	// from their own screen: it was shown somebody else's invitation (package confirm).
	ReasonConfirmationMismatch Reason = "confirmation_mismatch"

	// ReasonRevoked: a credential's status list says it is revoked.
	ReasonRevoked Reason = "revoked"
	// ReasonSuspended: a credential's status list says it is suspended.
	ReasonSuspended Reason = "suspended"
	// ReasonStatusUnavailable: a credential's status could not be established (the status list
	// is unreachable, too large, or not a valid list of the credential's issuer) and the policy
	// fails closed.
	ReasonStatusUnavailable Reason = "status_unavailable"
	// ReasonFormatNotAllowed: the presentation or credential format is supported but the
	// policy does not accept it.
	ReasonFormatNotAllowed Reason = "format_not_allowed"
	// ReasonCredentialTooOld: the credential was issued longer ago than the policy's maximum
	// credential age, or the policy has one and the credential does not say when it was
	// issued.
	ReasonCredentialTooOld Reason = "credential_too_old"
	// ReasonClaimConstraint: a claim is present but does not satisfy the policy's filter for
	// it (pattern, allowed values, type, range).
	ReasonClaimConstraint Reason = "claim_constraint"
	// ReasonUnknownContext: a JSON-LD document uses a context this service does not embed (an
	// unknown URL, or an inline context the policy does not allow), or its contexts redefine
	// a protected term.
	ReasonUnknownContext Reason = "unknown_context"
	// ReasonDisclosureNotAllowed: an SD-JWT discloses a claim that must never be selectively
	// disclosable (iss, exp, nbf, iat, cnf, status, vct, …): an issuer that let the holder
	// hide it let the holder hide an expiry, a status or a binding.
	ReasonDisclosureNotAllowed Reason = "disclosure_not_allowed"

	// AnonCreds only.

	// ReasonPredicateFailed: an AnonCreds presentation does not prove a predicate the policy
	// asks (e.g. birthdate_dateint <= 20081205): not answered, or proven for other values.
	ReasonPredicateFailed Reason = "predicate_failed"
	// ReasonSelfAttested: an AnonCreds presentation answers with the holder's own words
	// (self_attested_attrs) an attribute the policy requires from a trusted credential.
	ReasonSelfAttested Reason = "self_attested"
	// ReasonRevocationUnsupported: the policy requires non-revocation and the AnonCreds
	// credential's definition is revocable (or the presentation carries a non-revocation
	// proof); this service cannot verify AnonCreds non-revocation (package anoncreds).
	ReasonRevocationUnsupported Reason = "revocation_unsupported"
)

// RejectError says why a presentation was refused. Detail is for logs and the wallet's problem
// report; it never contains claim values.
type RejectError struct {
	Reason Reason
	Detail string
}

func (e *RejectError) Error() string {
	if e.Detail == "" {
		return string(e.Reason)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Detail)
}

func reject(r Reason, format string, args ...any) *RejectError {
	return &RejectError{Reason: r, Detail: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason of a *RejectError in err's chain, or "" if there is none.
func ReasonOf(err error) Reason {
	var re *RejectError
	if errors.As(err, &re) {
		return re.Reason
	}
	return ""
}

// explanations are what a wallet is told with each reason: fixed sentences, so that nothing a
// fetch or a parser said (an HTTP status, a host's answer) reaches an unauthenticated party.
var explanations = map[Reason]string{
	ReasonMalformed:            "the presentation could not be read",
	ReasonUnsupportedFormat:    "this presentation or proof format is not verified here",
	ReasonMissingProof:         "a proof is missing",
	ReasonBadSignature:         "a signature does not verify",
	ReasonChallengeMismatch:    "the presentation answers another request",
	ReasonDomainMismatch:       "the presentation is meant for another verifier",
	ReasonHolderMismatch:       "the presentation is not signed by the credential's subject",
	ReasonIssuerMismatch:       "a credential is not signed by its issuer",
	ReasonUntrustedIssuer:      "the credential's issuer is not trusted for this purpose",
	ReasonExpiredCredential:    "the credential has expired",
	ReasonNotYetValid:          "the credential is not valid yet",
	ReasonMissingCredential:    "no credential of the requested type was presented",
	ReasonMissingClaim:         "the credential lacks a required claim",
	ReasonReplayed:             "this presentation was already used",
	ReasonUnsupportedDIDMethod: "a DID method is not accepted here",
	ReasonUnresolvableDID:      "a DID could not be resolved",
	ReasonDeclined:             "the wallet declined",
	ReasonConfirmationMismatch: "the wallet declined: the confirmation code is not the one its owner's screen shows",
	ReasonRevoked:              "the credential is revoked",
	ReasonSuspended:            "the credential is suspended",
	ReasonStatusUnavailable:    "the credential's status could not be checked",
	ReasonFormatNotAllowed:     "this credential format is not accepted for this purpose",
	ReasonCredentialTooOld:     "the credential was issued too long ago",
	ReasonClaimConstraint:      "a claim does not meet the request",
	ReasonUnknownContext:       "the credential uses a JSON-LD context this verifier does not know",
	ReasonDisclosureNotAllowed: "the credential lets its holder hide a claim that must always be shown (validity, status, issuer, key)",

	// AnonCreds only.
	ReasonPredicateFailed:       "the presentation does not prove a required condition on the credential (such as an age)",
	ReasonSelfAttested:          "a required attribute was stated by the holder, not proven by a credential",
	ReasonRevocationUnsupported: "the credential is revocable and its non-revocation cannot be checked here",
}

// Explain returns the fixed sentence a wallet is told with r ("the presentation was refused"
// for a reason without one). Unlike RejectError.Detail, it never carries what a fetch or a
// parser said.
func (r Reason) Explain() string {
	if s, ok := explanations[r]; ok {
		return s
	}
	return "the presentation was refused"
}
