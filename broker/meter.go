package broker

import (
	"errors"
	"time"
)

// Meter receives the broker's operational measurements: what happened to sessions,
// presentations, wallets' messages and webhooks. It is declared here, in the broker's words,
// so that the broker does not know which monitoring system counts them (api/admin adapts it
// to Prometheus). Every label it is given comes from a small fixed vocabulary — policy names,
// outcomes, reason codes, credential formats, message kinds — never an id, a DID or a claim.
// Implementations must be safe for concurrent use and must not block.
type Meter interface {
	// SessionEnded counts a session reaching its outcome: bound (the customer has a chat),
	// rejected (reason is the rejection's code) or expired. Each session is counted once, when
	// the store records the outcome (a bound session's later close is not another end).
	SessionEnded(policy, outcome, reason string)
	// PresentationVerified times one verification of a presentation. format is the
	// credential format (ldp, bbs, jwt, sd-jwt; unknown when it could not be told), result is
	// verified, rejected or error (the verifier failed; not the presentation's fault).
	PresentationVerified(format, result string, took time.Duration)
	// WalletMessage counts one message a wallet sent, by kind (WalletMessage… constants) and
	// result: accepted, refused or ignored (no session waits for it).
	WalletMessage(kind, result string)
	// WebhookDelivery counts one step of a CRM webhook delivery: queued, delivered, retried or
	// dead (kept as a dead letter).
	WebhookDelivery(step string)
}

// Outcomes of a session, as Meter.SessionEnded is told them.
const (
	OutcomeBound    = "bound"
	OutcomeRejected = "rejected"
	OutcomeExpired  = "expired"
)

// Results of a verification, as Meter.PresentationVerified is told them.
const (
	VerifyVerified = "verified"
	VerifyRejected = "rejected"
	VerifyError    = "error"
)

// FormatUnknown is the credential format of a presentation whose format could not be told.
const FormatUnknown = "unknown"

// Kinds of wallet messages (DIDComm protocol/message names), as Meter.WalletMessage is told them.
const (
	WalletMessageConnectionComplete = "didexchange/complete"
	WalletMessagePresentation       = "present-proof/presentation"
	WalletMessageProblemReport      = "present-proof/problem-report"
)

// Results of a wallet's message, as Meter.WalletMessage is told them.
const (
	MessageAccepted = "accepted"
	MessageRefused  = "refused"
	MessageIgnored  = "ignored"
)

// Steps of a webhook delivery, as Meter.WebhookDelivery is told them.
const (
	WebhookQueued    = "queued"
	WebhookDelivered = "delivered"
	WebhookRetried   = "retried"
	WebhookDead      = "dead"
)

// noopMeter measures nothing: the Meter of a Service built without one.
type noopMeter struct{}

func (noopMeter) SessionEnded(string, string, string)                {}
func (noopMeter) PresentationVerified(string, string, time.Duration) {}
func (noopMeter) WalletMessage(string, string)                       {}
func (noopMeter) WebhookDelivery(string)                             {}

// meter returns the Meter to report to, never nil.
func (s *Service) meter() Meter {
	if s.deps.Meter == nil {
		return noopMeter{}
	}
	return s.deps.Meter
}

// observeTransition reports what a recorded transition t, which left the session as sess,
// means for the meter: its webhooks are queued, and an outcome is counted once, since the
// store records a transition to it once.
func (s *Service) observeTransition(t Transition, sess *Session) {
	m := s.meter()
	for range t.Outbox {
		m.WebhookDelivery(WebhookQueued)
	}
	switch t.To {
	case StatusBound:
		m.SessionEnded(sess.Policy, OutcomeBound, "")
	case StatusRejected:
		m.SessionEnded(sess.Policy, OutcomeRejected, sess.Reason)
	case StatusExpired:
		m.SessionEnded(sess.Policy, OutcomeExpired, sess.Reason)
	}
}

// verificationResult is the result and format a verification is measured under.
func verificationResult(res *Verification, err error) (format, result string) {
	if err == nil {
		return formatOr(res.Format), VerifyVerified
	}
	var r *Refusal
	if errors.As(err, &r) {
		return formatOr(r.Format), VerifyRejected
	}
	return FormatUnknown, VerifyError
}

func formatOr(f string) string {
	if f == "" {
		return FormatUnknown
	}
	return f
}

// verdictResult is the result a presentation's verdict is measured under.
func verdictResult(v Verdict) string {
	if v.Accepted {
		return MessageAccepted
	}
	return MessageRefused
}
