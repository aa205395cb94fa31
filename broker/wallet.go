package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/hearro/trustbroker/identity/confirm"
)

// This file is the wallet's path through a session, top to bottom: the invitation's answer
// (Connected), the presentation request, the presentation and its verdict, a wallet's problem
// report, and a returning customer's re-verification. What the broker needs from wallets and
// from credential verification is declared here in the broker's own words; broker/wallets
// translates to and from the DIDComm agent and the verifier.

// Wallets is the DIDComm side of a session (broker/wallets adapts identity/didcomm's agent).
type Wallets interface {
	// CreateInvitation makes an invitation whose goal carries the confirmation code.
	CreateInvitation(ctx context.Context, goal, confirmationCode string) (Invitation, error)
	// RequestPresentation sends a presentation request on a connection, on the thread
	// threadID (recorded by the caller before the answer can arrive).
	RequestPresentation(ctx context.Context, connectionID, threadID string, req PresentationRequest) error
	Connections(ctx context.Context) ([]WalletConnection, error)
	// Connection returns one connection, or an error matching ErrUnknownConnection.
	Connection(ctx context.Context, id string) (WalletConnection, error)
	// RemoveConnection forgets a connection, or fails with ErrUnknownConnection.
	RemoveConnection(ctx context.Context, id string) error
}

// ErrUnknownConnection: the wallet connection named does not exist (any more).
var ErrUnknownConnection = errors.New("unknown wallet connection")

// Invitation is an out-of-band invitation a customer's wallet answers.
type Invitation struct {
	ID string
	// JSON is the invitation message, as the wallet receives it.
	JSON []byte
}

// PresentationRequest is what a wallet is asked to prove.
type PresentationRequest struct {
	// Comment is the human-readable purpose; ConfirmationCode is shown with it.
	Comment          string
	ConfirmationCode string
	// Definition is the DIF presentation definition of the session's policy.
	Definition map[string]any
	// Challenge and Domain are what the presentation's proof must carry.
	Challenge string
	Domain    string
}

// WalletConnection is a private connection a wallet opened with this service.
type WalletConnection struct {
	ConnectionID string
	// InvitationID is the invitation the wallet answered.
	InvitationID string
	TheirDID     string
	TheirLabel   string
	// State is the connection protocol's state; Completed says whether it can carry requests.
	State     string
	Completed bool
}

// Presentation is a wallet's answer to a presentation request.
type Presentation struct {
	ThreadID     string
	ConnectionID string
	// TheirDID is the connection's DID of the wallet.
	TheirDID string
	// Body is the verifiable presentation.
	Body []byte
}

// Problem is a wallet's problem report on a presentation thread: it declined, or failed.
type Problem struct {
	ThreadID     string
	ConnectionID string
	Code         string
	Explain      string
}

// Verdict is the broker's answer to a presentation: accepted (the wallet gets an ack), or
// refused with a reason code and a fixed sentence for the wallet (a problem report).
type Verdict struct {
	Accepted bool
	Reason   string
	Explain  string
}

func refuse(reason, explain string) Verdict { return Verdict{Reason: reason, Explain: explain} }

// Verifier decides whether a presentation satisfies a policy (broker/wallets adapts
// identity's verifier). A refusal is a *Refusal; any other error is the verifier's failure.
type Verifier interface {
	Verify(ctx context.Context, presentation []byte, req VerifyRequest) (*Verification, error)
}

// VerifyRequest is what a presentation must satisfy.
type VerifyRequest struct {
	// Policy names the policy (Config.Policies).
	Policy string
	// Challenge is the session's nonce; Domain is this service's identifier.
	Challenge string
	Domain    string
	// ConnectionDID is the wallet's DID on the connection the presentation came over.
	ConnectionDID string
}

// Verification is a verified presentation: who the holder is and what the credential says.
type Verification struct {
	HolderDID      string
	IssuerDID      string
	CredentialType string
	// Claims are the credential subject's disclosed claims.
	Claims map[string]any
	// ExpiresAt is when the credential stops being valid; zero: never.
	ExpiresAt time.Time
	// Format is the presented credential's format (ldp, bbs, jwt, sd-jwt), for measurements.
	Format string
}

// Refusal is a presentation refused for a reason the wallet is told: Reason is a stable code,
// Explain a fixed sentence safe to send to an unauthenticated party, Detail is for logs only.
type Refusal struct {
	Reason  string
	Explain string
	Detail  string
	// Format is the presented credential's format as far as it could be told ("" if not),
	// for measurements only.
	Format string
}

func (r *Refusal) Error() string {
	if r.Detail == "" {
		return r.Reason
	}
	return r.Reason + ": " + r.Detail
}

// Reasons a session is rejected for that the broker decides itself (the verifier's refusals
// bring their own). They are part of the public API.
const (
	ReasonWalletUnreachable    = "wallet_unreachable"
	ReasonInternal             = "internal_error"
	ReasonReplayed             = "replayed"
	ReasonDeclined             = "declined"
	ReasonConfirmationMismatch = "confirmation_mismatch"
	ReasonSessionExpired       = "session_expired"
	ReasonUnknownThread        = "unknown_thread"
)

// Connected handles a completed connection: the wallet answered a session's invitation, so
// the session asks it for a presentation.
func (s *Service) Connected(ctx context.Context, c WalletConnection) {
	result := MessageIgnored
	defer func() { s.meter().WalletMessage(WalletMessageConnectionComplete, result) }()
	sess, err := s.store.SessionByInvitation(ctx, c.InvitationID)
	if err != nil {
		s.log.Warn("connection for no known session", "connection_id", c.ConnectionID, "err", err)
		return
	}
	log := s.log.With("session_id", sess.ID, "connection_id", c.ConnectionID)
	if sess, err = s.expireIfDue(ctx, sess); err != nil || sess.Status != StatusInvited {
		log.Warn("connection ignored: session is no longer waiting for a wallet", "status", statusOf(sess), "err", err)
		return
	}
	sess, err = s.transition(ctx, sess.ID, Transition{
		From:  []Status{StatusInvited},
		To:    StatusConnected,
		Apply: func(x *Session) { x.ConnectionID = c.ConnectionID },
	})
	if err != nil {
		log.Warn("connection not recorded", "err", err)
		return
	}
	result = MessageAccepted
	if _, err := s.request(ctx, sess); err != nil {
		log.Warn("presentation request not recorded", "err", err)
	}
}

// request asks the wallet on the session's connection for a presentation: the thread is
// recorded before the request leaves, so the answer always finds its session.
func (s *Service) request(ctx context.Context, sess *Session) (*Session, error) {
	threadID := uuid.NewString()
	sess, err := s.transition(ctx, sess.ID, Transition{
		From:  []Status{StatusConnected},
		To:    StatusRequested,
		Apply: func(x *Session) { x.ThreadID = threadID },
	})
	if err != nil {
		return nil, err
	}
	policy := s.cfg.Policies[sess.Policy]
	err = s.deps.Wallets.RequestPresentation(ctx, sess.ConnectionID, threadID, PresentationRequest{
		Comment:          policy.Purpose,
		ConfirmationCode: sess.ConfirmationCode,
		Definition:       policy.Definition(sess.ID),
		Challenge:        sess.Nonce,
		Domain:           s.cfg.Domain,
	})
	if err != nil {
		s.log.Warn("presentation request not delivered", "session_id", sess.ID, "err", err)
		s.rejectSession(ctx, sess.ID, ReasonWalletUnreachable)
		return s.store.Session(ctx, sess.ID)
	}
	return sess, nil
}

// PresentationReceived verifies a wallet's presentation and returns the verdict the wallet is
// answered with: accepted, with a verified identity recorded and the chat being opened; or
// refused, with the session rejected for the reason (unless the refusal is about the thread,
// not the session: unknown, expired, already answered, or the store is down).
func (s *Service) PresentationReceived(ctx context.Context, p Presentation) (v Verdict) {
	defer func() { s.meter().WalletMessage(WalletMessagePresentation, verdictResult(v)) }()
	sess, err := s.store.SessionByThread(ctx, p.ThreadID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		// The store is unreachable: not the wallet's fault, and not final.
		s.log.Error("presentation's session not read", "err", err)
		return refuse(ReasonInternal, "try again later")
	}
	if err != nil || sess.ConnectionID != p.ConnectionID {
		return refuse(ReasonUnknownThread, "no presentation was requested on this thread")
	}
	log := s.log.With("session_id", sess.ID, "connection_id", p.ConnectionID)
	if sess, err = s.expireIfDue(ctx, sess); err != nil {
		log.Error("read session", "err", err)
		return refuse(ReasonInternal, "try again later")
	}
	switch {
	case sess.Status == StatusExpired:
		return refuse(ReasonSessionExpired, "the verification session has expired")
	case sess.Status != StatusRequested:
		return refuse(ReasonReplayed, "a presentation was already received on this thread")
	}
	policy := s.cfg.Policies[sess.Policy]
	started := time.Now()
	res, err := s.deps.Verifier.Verify(ctx, p.Body, VerifyRequest{
		Policy: policy.Name, Challenge: sess.Nonce, Domain: s.cfg.Domain, ConnectionDID: p.TheirDID,
	})
	format, result := verificationResult(res, err)
	s.meter().PresentationVerified(format, result, time.Since(started))
	if err != nil {
		return s.refusePresentation(ctx, log, sess.ID, err)
	}
	now := s.now()
	ident := &Identity{
		ID:             s.ids.next(now),
		FlexIdentity:   Pseudonym(s.cfg.PseudonymKey, res.HolderDID),
		HolderDID:      res.HolderDID,
		IssuerDID:      res.IssuerDID,
		CredentialType: res.CredentialType,
		Claims:         res.Claims,
		Policy:         policy.Name,
		Assurance:      policy.Assurance,
		ConnectionID:   p.ConnectionID,
		SessionID:      sess.ID,
		CreatedAt:      now,
		VerifiedAt:     now,
		ExpiresAt:      res.ExpiresAt,
	}
	// A returning customer keeps their identity's ID: read it now, so the webhook announcing
	// the verification (queued in the same step) names the ID the store keeps.
	if existing, err := s.deps.Store.IdentityByFlex(ctx, ident.FlexIdentity); err == nil {
		ident.ID, ident.CreatedAt = existing.ID, existing.CreatedAt
	}
	sess, err = s.transition(ctx, sess.ID, Transition{
		From: []Status{StatusRequested}, To: StatusVerified, Identity: ident,
		Outbox: s.deliveries(EventIdentityVerified, ident.ID, map[string]any{"session_id": sess.ID, "identity": ident}),
	})
	if err != nil {
		return notRecorded(log, err)
	}
	log.Info("presentation verified", "identity_id", ident.ID, "issuer", res.IssuerDID)
	s.bindLater(sess.ID)
	return Verdict{Accepted: true}
}

// refusePresentation rejects the session for the verifier's refusal (or failure) and returns
// the verdict for the wallet: the reason code and a fixed sentence, never the detail, which may
// say what a host answered to a fetch the presentation caused.
func (s *Service) refusePresentation(ctx context.Context, log *slog.Logger, sessionID string, err error) Verdict {
	var r *Refusal
	v := Verdict{}
	if errors.As(err, &r) {
		v.Reason, v.Explain = r.Reason, r.Explain
	} else {
		log.Error("verification failed", "err", err)
		v.Reason, v.Explain = ReasonInternal, "the presentation could not be verified"
	}
	if _, terr := s.transition(ctx, sessionID, Transition{
		From: []Status{StatusRequested}, To: StatusRejected, Apply: func(x *Session) { x.Reason = v.Reason },
		Outbox: s.deliveries(EventSessionRejected, "", map[string]any{"session_id": sessionID, "reason": v.Reason}),
	}); terr != nil {
		return notRecorded(log, terr)
	}
	log.Info("presentation rejected", "reason", v.Reason, "detail", err.Error())
	return v
}

// notRecorded is the verdict on a presentation whose outcome could not be stored: another one
// won the race for the session (replayed), or the store failed (internal_error: the customer
// starts again; the session expires).
func notRecorded(log *slog.Logger, err error) Verdict {
	if errors.Is(err, ErrConflict) {
		return refuse(ReasonReplayed, "a presentation was already received on this thread")
	}
	log.Error("presentation's outcome not recorded", "err", err)
	return refuse(ReasonInternal, "the outcome could not be recorded; please start again")
}

// ProblemReported handles a wallet's problem report: it declined, or failed. The session is
// rejected as declined, or as confirmation_mismatch when the wallet says that is why it
// declined (its owner expected another code: the invitation was not for their screen). Any
// other code the wallet sends is logged, not kept: reasons are this service's vocabulary.
func (s *Service) ProblemReported(ctx context.Context, p Problem) {
	sess, err := s.store.SessionByThread(ctx, p.ThreadID)
	if err != nil || sess.ConnectionID != p.ConnectionID {
		s.meter().WalletMessage(WalletMessageProblemReport, MessageIgnored)
		return
	}
	s.meter().WalletMessage(WalletMessageProblemReport, MessageAccepted)
	reason := ReasonDeclined
	if p.Code == ReasonConfirmationMismatch {
		reason = ReasonConfirmationMismatch
	}
	s.log.Info("wallet reported a problem", "session_id", sess.ID, "code", p.Code, "reason", reason)
	s.rejectSession(ctx, sess.ID, reason)
}

// Connections lists the connections wallets opened with this service.
func (s *Service) Connections(ctx context.Context) ([]WalletConnection, error) {
	return s.deps.Wallets.Connections(ctx)
}

// VerifyConnection asks a returning customer for a fresh proof over the private connection
// they already have with this service — no QR code. It returns the new session, already
// requested (or rejected at once if the wallet cannot be reached).
func (s *Service) VerifyConnection(ctx context.Context, connectionID, policy string) (*Session, error) {
	policy, err := s.policy(policy)
	if err != nil {
		return nil, err
	}
	conn, err := s.deps.Wallets.Connection(ctx, connectionID)
	if errors.Is(err, ErrUnknownConnection) {
		return nil, fmt.Errorf("connection %s: %w", connectionID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if !conn.Completed {
		return nil, fmt.Errorf("%w: connection %s is %s, not completed", ErrInvalidInput, connectionID, conn.State)
	}
	sess, err := s.newSession(ctx, policy, confirm.New(), func(x *Session) { x.ConnectionID = connectionID })
	if err != nil {
		return nil, err
	}
	if sess, err = s.transition(ctx, sess.ID, Transition{From: []Status{StatusCreated}, To: StatusConnected}); err != nil {
		return nil, err
	}
	return s.request(ctx, sess)
}
