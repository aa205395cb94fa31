package broker

import (
	"encoding/json"
	"time"
)

// Status is a verification session's state. The zero value is not a valid status.
//
//	created ─► invited ─► connected ─► requested ─► verified ─► bound ─► closed
//	   (any non-terminal state) ─► rejected(reason) | expired
type Status string

// The session states. Their string values are part of the public API.
const (
	StatusCreated   Status = "created"
	StatusInvited   Status = "invited"
	StatusConnected Status = "connected"
	StatusRequested Status = "requested"
	StatusVerified  Status = "verified"
	StatusBound     Status = "bound"
	StatusClosed    Status = "closed"
	StatusRejected  Status = "rejected"
	StatusExpired   Status = "expired"
)

// Terminal reports whether no further transition can leave s.
func (s Status) Terminal() bool {
	return s == StatusRejected || s == StatusExpired || s == StatusClosed
}

// Valid reports whether s is one of the defined states.
func (s Status) Valid() bool {
	switch s {
	case StatusCreated, StatusInvited, StatusConnected, StatusRequested, StatusVerified,
		StatusBound, StatusClosed, StatusRejected, StatusExpired:
		return true
	}
	return false
}

// live lists the states a session can expire or be rejected from.
var live = []Status{StatusCreated, StatusInvited, StatusConnected, StatusRequested, StatusVerified}

// Session is one attempt by a customer to prove who they are and reach an agent.
type Session struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Reason is the stable machine-readable code of a rejection (identity.Reason values) or of
	// an expiry; empty otherwise.
	Reason string `json:"reason,omitempty"`
	// Policy names the verification policy the session was created with.
	Policy string `json:"policy"`
	// Nonce is the presentation challenge: fresh per session, single use.
	Nonce string `json:"nonce"`
	// ConfirmationCode is the short code the customer's page shows and the invitation's goal
	// and the presentation request's comment carry, so that the customer's wallet shows it too
	// (package identity/confirm). Set at creation, never changed; empty for sessions stored
	// before codes existed.
	ConfirmationCode string `json:"confirmation_code,omitempty"`

	// InvitationID is the out-of-band invitation's @id (the DIDComm parent thread id).
	InvitationID string `json:"invitation_id,omitempty"`
	// Invitation is the out-of-band invitation message, as sent to the wallet.
	Invitation json.RawMessage `json:"invitation,omitempty"`
	// ConnectionID is the DIDComm connection the wallet established.
	ConnectionID string `json:"connection_id,omitempty"`
	// ThreadID is the present-proof thread (the request-presentation message @id).
	ThreadID string `json:"thread_id,omitempty"`

	// IdentityID is the verified identity, once verified.
	IdentityID string `json:"identity_id,omitempty"`
	// Chat is the contact-centre chat, once bound.
	Chat *Chat `json:"chat,omitempty"`
	// ChatError says why a verified session has no chat yet (ChatError… codes); empty otherwise.
	ChatError string `json:"chat_error,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	ExpiresAt time.Time `json:"expires_at"`

	// Version increases by one with every stored write; stores use it for optimistic concurrency.
	Version int64 `json:"version"`
}

// Chat is the contact-centre chat a verified customer is bound to.
type Chat struct {
	// Identity is the customer's chat identity: the pseudonym, never the raw DID.
	Identity string `json:"identity"`
	// ConversationSID is the chat's Twilio SID: the Conversation the agent and customer share,
	// or in Flex Flow mode the Programmable Chat channel.
	ConversationSID string `json:"conversation_sid"`
	// ChannelSID is set (to the same SID) in Flex Flow mode: the chat is a channel.
	ChannelSID string `json:"channel_sid,omitempty"`
}

// Identity is a verified customer, keyed by their pseudonymous chat identity: one record per
// customer per deployment, refreshed by every successful verification.
type Identity struct {
	ID string `json:"id"`
	// FlexIdentity is the pseudonym hr_… derived from the holder DID; unique per identity.
	FlexIdentity string `json:"flex_identity"`
	// HolderDID is the DID the credential was issued to and the presentation was signed by.
	HolderDID string `json:"holder_did"`
	// IssuerDID is the credential's issuer.
	IssuerDID string `json:"issuer"`
	// CredentialType is the policy's credential type that was presented, e.g. VerifiedCustomer.
	CredentialType string `json:"credential_type"`
	// Claims are the disclosed claims of the credential subject (the subject id excluded).
	Claims map[string]any `json:"claims"`
	// Policy and Assurance are those of the session that verified the identity last.
	Policy    string `json:"policy"`
	Assurance string `json:"assurance"`
	// ConnectionID is the DIDComm connection the last verification ran over.
	ConnectionID string `json:"connection_id,omitempty"`
	// SessionID is the last session that verified this identity.
	SessionID string `json:"session_id"`

	CreatedAt  time.Time `json:"created_at"`
	VerifiedAt time.Time `json:"verified_at"`
	// ExpiresAt is when the verified credential stops being valid (zero if it never expires).
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// Event is one state change of a session, as pushed to browsers, webhooks and other replicas.
type Event struct {
	SessionID string `json:"session_id"`
	Status    Status `json:"status"`
	Reason    string `json:"reason,omitempty"`
	// ChatError says why a verified session's chat is not open yet (see Session.ChatError).
	ChatError string    `json:"chat_error,omitempty"`
	At        time.Time `json:"at"`
	// Version is the session version the event was produced by; consumers use it to drop
	// duplicates and to order events.
	Version int64 `json:"version"`
}

func eventOf(s *Session) Event {
	return Event{SessionID: s.ID, Status: s.Status, Reason: s.Reason, ChatError: s.ChatError, At: s.UpdatedAt, Version: s.Version}
}
