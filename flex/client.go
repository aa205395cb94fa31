package flex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client/jwt"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	flexv2 "github.com/twilio/twilio-go/rest/flex/v2"
)

// VerificationKey is the conversation attribute that carries the
// verification summary.
const VerificationKey = "verification"

// MaxTokenTTL is the longest life Twilio accepts for an access token.
const MaxTokenTTL = 24 * time.Hour

// Client opens Flex web chats and mints customer access tokens. It is safe
// for concurrent use.
type Client struct {
	cfg  Config
	base *BaseClient
	log  *slog.Logger
	now  func() time.Time
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	base, err := NewBaseClient(cfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, base: base, log: log, now: time.Now}, nil
}

// ChatRequest describes the chat to open for a verified customer.
type ChatRequest struct {
	// Identity is the customer's pseudonym (hr_…); it becomes the
	// Conversations identity. It must never be a DID or a real name.
	Identity string
	// CustomerFriendlyName is what the agent sees as the customer's name.
	CustomerFriendlyName string
	// ChatFriendlyName is the conversation's friendly name.
	ChatFriendlyName string
	// Attributes is the verification summary. It is sent as the web chat's
	// pre-engagement data and stored under "verification" in the
	// conversation attributes. Only what the policy discloses belongs here.
	Attributes map[string]any
}

// Chat is an opened Flex web chat.
type Chat struct {
	ConversationSID string // CH…
	Identity        string // the Conversations identity of the customer
}

// OpenChat creates a Flex web chat (Flex API v2 WebChats) for req.Identity
// and stores req.Attributes under "verification" in the conversation's
// attributes, keeping what Flex put there.
//
// When the chat was created but storing the summary failed, OpenChat returns
// the Chat together with the error: retry with SetVerification rather than
// opening a second chat. Errors from Twilio are *Error.
func (c *Client) OpenChat(ctx context.Context, req ChatRequest) (Chat, error) {
	const op = "create web chat"
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

	bc := c.base.bind(ctx)
	defer bc.done()
	rest := restClient(bc)

	params := &flexv2.CreateWebChannelParams{}
	params.SetAddressSid(c.cfg.AddressSID)
	params.SetIdentity(req.Identity)
	params.SetPreEngagementData(string(summary))
	if req.CustomerFriendlyName != "" {
		params.SetCustomerFriendlyName(req.CustomerFriendlyName)
	}
	if req.ChatFriendlyName != "" {
		params.SetChatFriendlyName(req.ChatFriendlyName)
	}
	wc, err := rest.FlexV2.CreateWebChannel(params)
	if err != nil {
		return Chat{}, wrapError(op, err, bc.lastStatus())
	}
	if wc.ConversationSid == nil || *wc.ConversationSid == "" {
		return Chat{}, &Error{Op: op, Status: bc.lastStatus(), Message: "response has no conversation_sid"}
	}
	chat := Chat{ConversationSID: *wc.ConversationSid, Identity: req.Identity}
	if wc.Identity != nil && *wc.Identity != "" {
		chat.Identity = *wc.Identity
	}
	c.log.InfoContext(ctx, "flex web chat created",
		slog.String("conversation_sid", chat.ConversationSID), slog.String("identity", chat.Identity))

	if err := c.setVerification(ctx, rest, bc, chat.ConversationSID, summary); err != nil {
		return chat, err
	}
	return chat, nil
}

// SetVerification stores summary under "verification" in the attributes of
// conversation conversationSID, keeping every other attribute (fetch, merge,
// update). Doing it twice with the same summary is harmless, so a failed
// OpenChat can be completed with it. Errors from Twilio are *Error.
func (c *Client) SetVerification(ctx context.Context, conversationSID string, summary map[string]any) error {
	raw, err := marshalSummary(summary)
	if err != nil {
		return &Error{Op: "update conversation", Message: "verification summary is not JSON", Err: err}
	}
	bc := c.base.bind(ctx)
	defer bc.done()
	return c.setVerification(ctx, restClient(bc), bc, conversationSID, raw)
}

func (c *Client) setVerification(ctx context.Context, rest *twilio.RestClient, bc *BaseClient, sid string, summary json.RawMessage) error {
	if sid == "" {
		return &Error{Op: "fetch conversation", Message: "conversation SID is required"}
	}
	if err := ctx.Err(); err != nil {
		return &Error{Op: "fetch conversation", Message: err.Error(), Err: err}
	}
	conv, err := rest.ConversationsV1.FetchConversation(sid)
	if err != nil {
		return wrapError("fetch conversation", err, bc.lastStatus())
	}
	existing := ""
	if conv.Attributes != nil {
		existing = *conv.Attributes
	}
	merged, err := mergeVerification(existing, summary)
	if err != nil {
		return &Error{Op: "fetch conversation", Message: "conversation attributes are not a JSON object", Err: err}
	}

	if err := ctx.Err(); err != nil {
		return &Error{Op: "update conversation", Message: err.Error(), Err: err}
	}
	params := &conversations.UpdateConversationParams{}
	params.SetAttributes(merged)
	if _, err := rest.ConversationsV1.UpdateConversation(sid, params); err != nil {
		return wrapError("update conversation", err, bc.lastStatus())
	}
	c.log.InfoContext(ctx, "flex conversation annotated", slog.String("conversation_sid", sid))
	return nil
}

// Token returns a Conversations access token for identity, signed with the
// API key, with a ChatGrant for the configured Conversations service, and
// when it expires. ttl must be positive and at most MaxTokenTTL; tokens
// shorter than twilio-go's one-hour floor get their expiry from ValidUntil.
func (c *Client) Token(identity string, ttl time.Duration) (token string, expiresAt time.Time, err error) {
	if identity == "" {
		return "", time.Time{}, errors.New("flex: token: identity is required")
	}
	if ttl <= 0 || ttl > MaxTokenTTL {
		return "", time.Time{}, fmt.Errorf("flex: token: ttl %v is outside (0, %v]", ttl, MaxTokenTTL)
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
	at.AddGrant(&jwt.ChatGrant{ServiceSid: c.cfg.ConversationsServiceSID})
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

// mergeVerification returns the conversation attributes existing with
// summary stored under VerificationKey, every other attribute unchanged.
// Empty or null attributes count as {}; anything else but an object is an
// error.
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
