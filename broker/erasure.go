package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// This file follows an erasure to the contact centre. The identity is erased locally at once
// (Store.DeleteIdentity); what the service wrote about the customer at the contact centre —
// the verification summary, pre-engagement data and their name in the chats, their tasks and
// their chat user — is removed afterwards, durably: an outbox entry of kind KindChatErasure,
// queued in the erasure's own atomic step, is retried with the webhooks' backoff until the
// contact centre confirms, and the identity's erasure status (an Erasure record, kept
// ErasureTTL and keyed by a hash of the identity ID) says how far it got.

// KindChatErasure is the Delivery.Kind of the contact-centre part of an erasure: its payload
// names the Erasure record ({"erasure": key}); the service's ChatEraser does it.
const KindChatErasure = "chat_erasure"

// ErasureTTL is how long the status of an erasure is kept (from its last change).
const ErasureTTL = 30 * 24 * time.Hour

// ErasureStatus is how far the contact-centre part of an erasure got.
type ErasureStatus string

// The erasure statuses. Their string values are part of the public API.
const (
	ErasurePending ErasureStatus = "pending" // queued, or retrying after a failure
	ErasureDone    ErasureStatus = "done"    // the contact centre holds nothing more
	ErasureFailed  ErasureStatus = "failed"  // given up (attempts spent, or not supported)
)

// Erasure is what an erased identity leaves behind: no personal data, only what the erasure
// at the contact centre needs until it is done and the status the CRM may read.
type Erasure struct {
	// Key is ErasureKey of the erased identity's ID.
	Key    string        `json:"key"`
	Status ErasureStatus `json:"status"`
	// Attempts counts the contact-centre attempts made; LastError says why the last one failed
	// (never a credential), empty once done.
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error,omitempty"`
	// RequestedAt is when the identity was erased; CompletedAt when the contact centre's part
	// ended (done or failed).
	RequestedAt time.Time `json:"requested_at"`
	CompletedAt time.Time `json:"completed_at,omitzero"`
	// ExpiresAt is when the store may forget the record.
	ExpiresAt time.Time `json:"expires_at"`

	// The work still to do, filled by Erasures.EraseIdentity and cleared when it ends: the
	// customer's chat pseudonym, the chats (conversation or channel SIDs) of the sessions the
	// identity verified, and their policies (whose DeleteConversationsOnErasure applies).
	FlexIdentity string   `json:"flex_identity,omitempty"`
	Chats        []string `json:"chats,omitempty"`
	Policies     []string `json:"policies,omitempty"`
}

// ErasureKey is the key of the erasure record of identity id: a SHA-256 of it, so that the
// record does not hold the erased ID.
func ErasureKey(identityID string) string {
	sum := sha256.Sum256([]byte("hearro erasure\x00" + identityID))
	return hex.EncodeToString(sum[:])
}

// Plan fills e's work from the identity being erased and the sessions that verified it (the
// stores call it inside EraseIdentity's atomic step): the pseudonym, each distinct chat, and
// each distinct policy.
func (e *Erasure) Plan(ident *Identity, sessions []*Session) {
	e.FlexIdentity = ident.FlexIdentity
	e.Chats, e.Policies = nil, nil
	if ident.Policy != "" {
		e.Policies = append(e.Policies, ident.Policy)
	}
	for _, s := range sessions {
		if s.Chat != nil && s.Chat.ConversationSID != "" {
			e.Chats = append(e.Chats, s.Chat.ConversationSID)
		}
		if s.Policy != "" {
			e.Policies = append(e.Policies, s.Policy)
		}
	}
	slices.Sort(e.Chats)
	e.Chats = slices.Compact(e.Chats)
	slices.Sort(e.Policies)
	e.Policies = slices.Compact(e.Policies)
}

// Erasures keeps erasure records. Every Store shipped with the broker is also an Erasures; its
// methods are safe for concurrent use.
type Erasures interface {
	// EraseIdentity is Store.DeleteIdentity that also stores e, in the same atomic step, under
	// e.Key until e.ExpiresAt, after e.Plan with the identity and the sessions that verified
	// it (e is updated to match). ErrNotFound if the identity is absent (nothing is written).
	EraseIdentity(ctx context.Context, id string, e *Erasure, notify ...Delivery) error
	// Erasure returns the record under key, or ErrNotFound (also once it expired).
	Erasure(ctx context.Context, key string) (*Erasure, error)
	// PutErasure stores e under e.Key until e.ExpiresAt, replacing what was there.
	PutErasure(ctx context.Context, e *Erasure) error
}

// ChatEraser removes from the contact centre what the service wrote there about a customer
// (broker/chats adapts the Flex client). It must be idempotent: a failed erasure is tried
// again from the start.
type ChatEraser interface {
	EraseChats(ctx context.Context, req ChatErasure) error
}

// ChatErasure is one customer's erasure at the contact centre.
type ChatErasure struct {
	// Identity is the customer's pseudonym (their chat identity).
	Identity string
	// Chats are the chats opened for the customer (the contact centre may find more).
	Chats []string
	// Delete deletes the chats rather than scrubbing them.
	Delete bool
}

// ErrChatErasureUnsupported is returned by a ChatEraser that cannot erase (legacy Flex Flow):
// the erasure fails at once instead of being retried.
var ErrChatErasureUnsupported = errors.New("erasure at the contact centre is not supported")

// maxErrorText bounds an erasure's LastError.
const maxErrorText = 300

// erasesChats reports whether erasures reach the contact centre.
func (s *Service) erasesChats() bool {
	return s.deps.Erasures != nil && s.deps.ChatEraser != nil && s.deps.Outbox != nil
}

// eraseIdentity erases identity id with its erasure record and the queued contact-centre
// work, in one store step.
func (s *Service) eraseIdentity(ctx context.Context, id string, notify []Delivery) error {
	now := s.now()
	e := &Erasure{Key: ErasureKey(id), Status: ErasurePending, RequestedAt: now, ExpiresAt: now.Add(ErasureTTL)}
	payload, _ := json.Marshal(map[string]string{"erasure": e.Key})
	work := Delivery{ID: s.ids.next(now), EventID: s.ids.next(now), Kind: KindChatErasure, Type: KindChatErasure,
		Payload: payload, CreatedAt: now, NextAttempt: now}
	err := s.deps.Erasures.EraseIdentity(ctx, id, e, append(notify, work)...)
	if s.cache != nil {
		s.cache.changed(ctx, id) // even after an error: it may have been erased all the same
	}
	return err
}

// ErasureStatus returns the status of the erasure of identity id: ErrNotFound if it was never
// erased (or its record expired).
func (s *Service) ErasureStatus(ctx context.Context, id string) (*Erasure, error) {
	if s.deps.Erasures == nil {
		return nil, fmt.Errorf("erasure of %s: %w", id, ErrNotFound)
	}
	return s.deps.Erasures.Erasure(ctx, ErasureKey(id))
}

// eraseChats does the contact-centre part of an erasure (a KindChatErasure delivery).
func (s *Service) eraseChats(ctx context.Context, d Delivery) error {
	if s.deps.ChatEraser == nil || s.deps.Erasures == nil {
		return errors.New("no contact-centre eraser configured")
	}
	e, err := s.erasureOf(ctx, d)
	if err != nil {
		return err
	}
	if e.Status != ErasurePending {
		return nil // ended already (a retry after a lost Done)
	}
	req := ChatErasure{Identity: e.FlexIdentity, Chats: e.Chats}
	for _, name := range e.Policies {
		req.Delete = req.Delete || s.cfg.Policies[name].DeleteConversationsOnErasure
	}
	if req.Identity == "" {
		return nil // the identity never had a chat identity: nothing at the contact centre
	}
	return s.deps.ChatEraser.EraseChats(ctx, req)
}

func (s *Service) erasureOf(ctx context.Context, d Delivery) (*Erasure, error) {
	var ref struct {
		Erasure string `json:"erasure"`
	}
	if err := json.Unmarshal(d.Payload, &ref); err != nil || ref.Erasure == "" {
		return nil, fmt.Errorf("%w: chat erasure %s names no erasure", ErrInvalidInput, d.ID)
	}
	return s.deps.Erasures.Erasure(ctx, ref.Erasure)
}

// noteErasure records the outcome of an attempt at the contact centre in the erasure's
// status: done (err nil), failed (final), else still pending with the attempt counted.
func (s *Service) noteErasure(ctx context.Context, d Delivery, err error, final bool) {
	e, rerr := s.erasureOf(ctx, d)
	if rerr != nil {
		if !errors.Is(rerr, ErrNotFound) {
			s.log.Warn("erasure status not read", "delivery_id", d.ID, "err", rerr)
		}
		return
	}
	now := s.now()
	e.Attempts = d.Attempts
	switch {
	case err == nil:
		e.Attempts++
		e.Status, e.LastError, e.CompletedAt = ErasureDone, "", now
	case final:
		e.Status, e.CompletedAt = ErasureFailed, now
	}
	if err != nil {
		e.LastError = err.Error()
		if len(e.LastError) > maxErrorText {
			e.LastError = e.LastError[:maxErrorText] + "…"
		}
	}
	if e.Status != ErasurePending {
		e.FlexIdentity, e.Chats, e.Policies = "", nil, nil // the work is over: forget the pseudonym
	}
	e.ExpiresAt = now.Add(ErasureTTL)
	if perr := s.deps.Erasures.PutErasure(ctx, e); perr != nil {
		s.log.Warn("erasure status not stored", "delivery_id", d.ID, "err", perr)
	}
}
