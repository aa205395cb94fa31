// Package storekit holds what the broker's implementations of broker.Store (bbolt in
// boltstore, Redis in redisstore) do alike before they read or write their backend: the checks
// of a call's arguments beyond the contract, and the making of a missing secret. Its errors
// name the call ("transition of session \"s1\": …"); a store prefixes its own name.
package storekit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/broker"
)

// CheckTransition checks Transition's arguments: a session ID (else broker.ErrNotFound), a
// valid target status, and a FlexIdentity on the identity to store, if any.
func CheckTransition(id string, t broker.Transition) error {
	if id == "" {
		return fmt.Errorf("transition: empty session ID: %w", broker.ErrNotFound)
	}
	if !t.To.Valid() {
		return fmt.Errorf("transition of session %q: invalid target status %q", id, t.To)
	}
	if t.Identity != nil && t.Identity.FlexIdentity == "" {
		return fmt.Errorf("transition of session %q: identity has an empty FlexIdentity", id)
	}
	return nil
}

// Outbox checks the IDs of the deliveries one call is about to queue (Transition.Outbox,
// DeleteIdentity's notify), one by one and in order: each has one, and none is given twice
// (broker.ErrExists). A store checks each delivery's payload (CheckPayload) right after its ID.
// The zero value is ready for a call's first delivery.
type Outbox struct{ seen map[string]bool }

// CheckID checks the ID of the next delivery.
func (o *Outbox) CheckID(d *broker.Delivery) error {
	if d.ID == "" {
		return errors.New("delivery with an empty ID")
	}
	if o.seen[d.ID] {
		return fmt.Errorf("delivery %q given twice: %w", d.ID, broker.ErrExists)
	}
	if o.seen == nil {
		o.seen = map[string]bool{}
	}
	o.seen[d.ID] = true
	return nil
}

// CheckPayload checks that d's payload, if it has one, is JSON.
func CheckPayload(d *broker.Delivery) error {
	if len(d.Payload) > 0 && !json.Valid(d.Payload) {
		return fmt.Errorf("delivery %q: payload is not valid JSON", d.ID)
	}
	return nil
}

// NewSecret makes the secret name with generate, for a Secret call that found none stored:
// without a generator that is broker.ErrNotFound, and a generator that fails or returns nothing
// is an error. The secret returned is the caller's.
func NewSecret(name string, generate func() ([]byte, error)) ([]byte, error) {
	if generate == nil {
		return nil, fmt.Errorf("secret %q: %w and no generator given", name, broker.ErrNotFound)
	}
	fresh, err := generate()
	if err != nil {
		return nil, fmt.Errorf("secret %q: generate: %w", name, err)
	}
	if len(fresh) == 0 {
		return nil, fmt.Errorf("secret %q: generator returned an empty secret", name)
	}
	return bytes.Clone(fresh), nil
}
