package broker

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Delivery is one webhook to send to one CRM endpoint: an event, durably queued in the same
// atomic step as the state change it reports (a transactional outbox), delivered at least once
// with retries, and kept as a dead letter when it cannot be delivered.
type Delivery struct {
	// ID identifies this delivery (one event to one endpoint); a ULID, so deliveries sort by
	// creation.
	ID string `json:"id"`
	// EventID identifies the event; every endpoint receives it, and receivers use it to drop
	// duplicates (delivery is at least once).
	EventID string `json:"event_id"`
	// Kind is what the entry is: "" a webhook, KindChatErasure the contact-centre part of an
	// erasure (no Endpoint). Both are queued, leased, retried and buried alike.
	Kind string `json:"kind,omitempty"`
	// Endpoint is the URL the event is POSTed to.
	Endpoint string `json:"endpoint"`
	// Type is the event type: identity.verified, session.bound, session.rejected, …
	Type string `json:"type"`
	// Subject is the ID of the identity the event is about, if any. Erasing that identity
	// removes the delivery, queued or dead (see Store.DeleteIdentity).
	Subject string `json:"subject,omitempty"`
	// Payload is the event as the receiver gets it (signed when sent).
	Payload json.RawMessage `json:"payload"`
	// CreatedAt is when the event happened.
	CreatedAt time.Time `json:"created_at"`
	// Attempts counts the delivery attempts made so far; NextAttempt is when the next is due.
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	// LastError says why the last attempt failed (status code or transport error); empty
	// before the first attempt.
	LastError string `json:"last_error,omitempty"`
	// LeasedUntil is the end of the lease Lease handed this delivery out with. Retry and Bury
	// of a delivery that carries it act only while that lease is still the delivery's own:
	// after it ran out and another sender leased the delivery, or after a Retry, they fail
	// with ErrLeaseLost and change nothing. Zero: no such check. Not part of the record.
	LeasedUntil time.Time `json:"-"`
}

// ErrLeaseLost is returned by Outbox.Retry and Outbox.Bury for a delivery whose lease
// (Delivery.LeasedUntil) is no longer its current one: another sender has it now.
var ErrLeaseLost = errors.New("delivery lease lost to another sender")

// Outbox is the durable queue of webhook deliveries, on the same store as the sessions.
// Deliveries enter it through Transition.Outbox and DeleteIdentity's notify argument, in the
// same atomic step as the change they report. A queued delivery needs an ID no other delivery
// (queued or dead) has, or the step fails with ErrExists and writes nothing, and a payload that
// is JSON, kept byte for byte. Every Store shipped with the broker is also an Outbox.
// Implementations are safe for concurrent use by many goroutines and, on shared stores, by many
// service instances.
type Outbox interface {
	// Lease returns up to n deliveries whose NextAttempt is not after now, oldest due first,
	// and hides each from other Lease calls until now+lease: a delivery is handed to one
	// sender at a time, and is handed out again if its sender dies without answering.
	Lease(ctx context.Context, now time.Time, n int, lease time.Duration) ([]Delivery, error)
	// Done removes a delivery that was delivered. Unknown IDs are not an error.
	Done(ctx context.Context, id string) error
	// Retry stores d's Attempts, NextAttempt and LastError and makes it due at NextAttempt.
	// ErrNotFound if the delivery is no longer queued, ErrLeaseLost if d's lease is not its
	// current one.
	Retry(ctx context.Context, d Delivery) error
	// Bury moves d (with its final Attempts and LastError) from the queue to the dead letters.
	// ErrNotFound if the delivery is no longer queued, ErrLeaseLost if d's lease is not its
	// current one.
	Bury(ctx context.Context, d Delivery) error
	// DeadLetters returns up to limit dead letters in ID order after the ID after ("" for the
	// start).
	DeadLetters(ctx context.Context, after string, limit int) ([]Delivery, error)
}
