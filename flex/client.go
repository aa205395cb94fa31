package flex

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client/jwt"
)

// VerificationKey is the conversation (or channel) attribute, and the
// participant attribute, that carries the verification summary.
const VerificationKey = "verification"

// MaxTokenTTL is the longest life Twilio accepts for an access token.
const MaxTokenTTL = 24 * time.Hour

// UniqueNamePrefix starts the unique name OpenChat gives the chat it opens
// for an idempotency key: UniqueNamePrefix + ChatRequest.IdempotencyKey.
const UniqueNamePrefix = "hearro-"

// ChatKeyAttribute is the pre-engagement data field (in conversations mode)
// that carries ChatRequest.IdempotencyKey, so that OpenChat recognises the
// conversation it opened even before naming it.
const ChatKeyAttribute = "hearroChatKey"

// Client opens Flex chats and mints customer access tokens, in the mode its
// Config says. It is safe for concurrent use. All its calls to Twilio share
// one circuit breaker.
type Client struct {
	cfg     Config
	base    *BaseClient
	log     *slog.Logger
	now     func() time.Time
	retry   Retry
	breaker *gobreaker.CircuitBreaker[struct{}]
	meter   Meter
	locks   keyedLocks

	flowMu      sync.Mutex
	flowCheckAt time.Time // when the Flex Flow was last found usable
}

// flowCheckEvery is how long a Flex Flow found usable is trusted before
// OpenChat checks it again.
const flowCheckEvery = 5 * time.Minute

// New validates cfg and returns a Client. It does not call Twilio: see Check.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Mode = cfg.mode()
	base, err := NewBaseClient(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{
		cfg: cfg, base: base, log: log, now: time.Now,
		retry:   cfg.Retry.withDefaults(),
		breaker: newBreaker(cfg.Breaker, log, meterOrNoop(cfg.Meter)),
		meter:   meterOrNoop(cfg.Meter),
	}, nil
}

// Mode is the mode the Client opens chats in.
func (c *Client) Mode() Mode { return c.cfg.Mode }

// ChatRequest describes the chat to open for a verified customer.
type ChatRequest struct {
	// Identity is the customer's pseudonym (hr_…); it becomes the
	// Conversations (or Chat) identity. It must never be a DID or a real name.
	Identity string
	// CustomerFriendlyName is what the agent sees as the customer's name:
	// the policy's display name or a neutral one, never a DID. In
	// conversations mode it is also the pre-engagement data's friendlyName,
	// which Flex's Studio flows make the task's name and from.
	CustomerFriendlyName string
	// ChatFriendlyName is the conversation's (or channel's) friendly name.
	ChatFriendlyName string
	// Attributes is the verification summary. It is sent as the chat's
	// pre-engagement data (which Flex copies into the task attributes) and
	// stored under "verification" in the conversation (or channel)
	// attributes and, in conversations mode, in the customer participant's
	// attributes. Only what the policy discloses belongs here.
	Attributes map[string]any
	// IdempotencyKey, when set, makes OpenChat idempotent: calls with the
	// same key (retried, concurrent, or repeated after an error) open at most
	// one chat. Use the verification session's ID. It is sent to Twilio as
	// the chat's unique name (UniqueNamePrefix + key), so it must not be
	// personal data.
	IdempotencyKey string
}

// Chat is an opened Flex chat.
type Chat struct {
	// ConversationSID is the chat's SID: the Conversation (CH…) in
	// conversations mode; in Flex Flow mode the Programmable Chat channel's
	// SID, the same as ChannelSID, so that code keeping one chat SID works
	// in both modes (webhooks name it as WebhookEvent.ChatSID).
	ConversationSID string
	// ChannelSID is the Programmable Chat channel (CH…) in Flex Flow mode;
	// empty in conversations mode. Set means: the chat is a channel.
	ChannelSID string
	// Identity is the customer's Conversations (or Chat) identity.
	Identity string
	// TaskSID is the TaskRouter task (WT…) Flex created for the chat, when
	// Twilio said (Flex Flow mode, new chats only).
	TaskSID string
	// Reused reports that the chat existed already: opened earlier for the
	// same idempotency key.
	Reused bool
}

// SID is the chat's Twilio SID in either mode.
func (ch Chat) SID() string {
	if ch.ChannelSID != "" {
		return ch.ChannelSID
	}
	return ch.ConversationSID
}

// OpenChat opens the customer's Flex chat, or finds the one to reuse, and
// puts the verification summary where the agent sees it.
//
// Conversations mode: a Flex API v2 WebChat on the configured address, the
// summary in the conversation's and the customer participant's attributes.
// Flex Flow mode: a Flex API v1 Channel in the configured web Flex Flow, the
// summary as pre-engagement data (task attributes) and in the channel's
// attributes.
//
// It adopts only the chat already opened for req.IdempotencyKey (a retried
// or concurrent call for the same session), unless that chat is closed;
// never an older session's chat, however active: a returning customer gets
// a new chat (and keeps one Twilio user). Calls for one identity are
// serialised within the process. Temporary failures are retried (see
// Config.Retry) and every attempt starts by looking for what an earlier
// attempt may have created, so a lost response does not open a second chat.
//
// Errors are *Error. When the chat exists but annotating it failed for good,
// OpenChat returns the Chat together with the error; calling OpenChat again
// with the same request completes it.
func (c *Client) OpenChat(ctx context.Context, req ChatRequest) (Chat, error) {
	op := "create web chat"
	if c.cfg.Mode == ModeFlexFlow {
		op = "create flex channel"
	}
	if req.Identity == "" {
		return Chat{}, &Error{Op: op, Message: "identity is required"}
	}
	summary, err := marshalSummary(req.Attributes)
	if err != nil {
		return Chat{}, &Error{Op: op, Message: "verification summary is not JSON", Err: err}
	}
	if err := ctx.Err(); err != nil {
		return Chat{}, &Error{Op: op, Message: err.Error(), Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, c.retry.Total)
	defer cancel()

	unlock, err := c.locks.lock(ctx, req.Identity)
	if err != nil {
		return Chat{}, &Error{Op: op, Message: err.Error(), Err: err}
	}
	defer unlock()

	bc := c.base.bind(ctx)
	defer bc.done()
	rest := restClient(bc)
	// The key marking the conversation this call opens: the session's, or
	// without one a key of this call alone, so that its retries find what
	// an attempt whose response was lost created, and nothing else.
	key := req.IdempotencyKey
	if key == "" {
		key = "call-" + randomKey()
	}
	return withRetry(ctx, c, op, func() (Chat, error) {
		if c.cfg.Mode == ModeFlexFlow {
			return c.openChannel(ctx, bc, rest, req, summary)
		}
		return c.openConversation(ctx, bc, rest, req, key, summary)
	})
}

// SetVerification stores summary under "verification" in the attributes of
// the chat sid (a conversation, or in Flex Flow mode a channel), keeping
// every other attribute (fetch, merge, update). Doing it twice with the same
// summary is harmless. It does not touch participant attributes (OpenChat
// does). Errors from Twilio are *Error.
func (c *Client) SetVerification(ctx context.Context, sid string, summary map[string]any) error {
	raw, err := marshalSummary(summary)
	if err != nil {
		return &Error{Op: "update conversation", Message: "verification summary is not JSON", Err: err}
	}
	bc := c.base.bind(ctx)
	defer bc.done()
	rest := restClient(bc)
	_, err = withRetry(ctx, c, "update conversation", func() (struct{}, error) {
		if c.cfg.Mode == ModeFlexFlow {
			return struct{}{}, c.annotateChannel(ctx, bc, rest, sid, nil, raw)
		}
		_, err := c.annotateConversation(ctx, bc, rest, sid, raw, "", false, false)
		return struct{}{}, err
	})
	return err
}

// Token returns an access token for identity, signed with the API key, with
// a ChatGrant for the configured Conversations service (or, in Flex Flow
// mode, the Flex Flow's Chat service), and when it expires. ttl must be
// positive and at most MaxTokenTTL; tokens shorter than twilio-go's one-hour
// floor get their expiry from ValidUntil. Token does not call Twilio; it is
// for callers to decide whether identity may still have one.
func (c *Client) Token(identity string, ttl time.Duration) (token string, expiresAt time.Time, err error) {
	if identity == "" {
		return "", time.Time{}, errors.New("flex: token: identity is required")
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return "", time.Time{}, fmt.Errorf("flex: token: ttl %v is outside (0, %v]", ttl, MaxTokenTTL)
	}
	service := c.cfg.ConversationsServiceSID
	if c.cfg.Mode == ModeFlexFlow {
		service = c.cfg.ChatServiceSID
	}
	// JWT times are whole seconds; never promise more than the token says.
	expiresAt = c.now().Add(ttl).Truncate(time.Second)
	at := jwt.CreateAccessToken(jwt.AccessTokenParams{
		AccountSid:    c.cfg.AccountSID,
		SigningKeySid: c.cfg.APIKeySID,
		Secret:        c.cfg.APIKeySecret,
		Identity:      identity,
		Ttl:           ttl.Seconds(),
		ValidUntil:    float64(expiresAt.Unix()),
	})
	at.AddGrant(&jwt.ChatGrant{ServiceSid: service})
	token, err = at.ToJwt()
	if err != nil {
		return "", time.Time{}, fmt.Errorf("flex: token: %w", err)
	}
	return token, expiresAt, nil
}

// restClient returns the twilio-go REST client for one call.
func restClient(bc *BaseClient) *twilio.RestClient {
	rest := twilio.NewRestClientWithParams(twilio.ClientParams{Client: bc})
	// twilio-go reads TWILIO_EDGE and TWILIO_REGION from the environment;
	// this package does not depend on the environment.
	rest.SetEdge("")
	rest.SetRegion("")
	return rest
}

// uniqueName is the chat unique name for an idempotency key, "" for none.
func uniqueName(key string) string {
	if key == "" {
		return ""
	}
	return UniqueNamePrefix + key
}

// mergeVerification returns the attributes existing with summary stored
// under VerificationKey, every other attribute unchanged. Empty or null
// attributes count as {}; anything else but an object is an error.
func mergeVerification(existing string, summary json.RawMessage) (string, error) {
	attrs := map[string]json.RawMessage{}
	if strings.TrimSpace(existing) != "" {
		if err := json.Unmarshal([]byte(existing), &attrs); err != nil {
			return "", err
		}
		if attrs == nil { // JSON null
			attrs = map[string]json.RawMessage{}
		}
	}
	attrs[VerificationKey] = summary
	merged, err := json.Marshal(attrs)
	if err != nil {
		return "", err
	}
	return string(merged), nil
}

func marshalSummary(summary map[string]any) (json.RawMessage, error) {
	if summary == nil {
		return json.RawMessage("{}"), nil
	}
	return json.Marshal(summary)
}

// randomKey returns 32 random hex digits.
func randomKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
