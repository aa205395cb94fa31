package flex

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"time"
)

// DefaultTimeout bounds every call to Twilio when Config.HTTPClient is nil or
// has no timeout of its own.
const DefaultTimeout = 10 * time.Second

// Twilio's minimum conversation timers (Conversations API, Timers.Inactive
// and Timers.Closed).
const (
	MinChatInactiveAfter = time.Minute
	MinChatCloseAfter    = 10 * time.Minute
)

// Mode is the kind of Flex account chats are opened in.
type Mode string

const (
	// ModeConversations is current Flex: Flex API v2 WebChats on a
	// Conversations Address, Conversations access tokens. The default.
	ModeConversations Mode = "conversations"
	// ModeFlexFlow is legacy Flex: a Flex Flow of channel type web, Flex API
	// v1 Channels on Programmable Chat, Chat access tokens. Twilio ended
	// Programmable Chat for Flex on 2026-06-01; only accounts that still have
	// it can use this mode.
	ModeFlexFlow Mode = "flexflow"
)

// ParseMode reads a mode as given on a command line: "conversations" (or
// empty) or "flexflow".
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", ModeConversations:
		return ModeConversations, nil
	case ModeFlexFlow:
		return ModeFlexFlow, nil
	}
	return "", fmt.Errorf("flex: mode %q: want %q or %q", s, ModeConversations, ModeFlexFlow)
}

// Retry bounds how OpenChat retries Twilio's temporary failures (429, 5xx,
// timeouts): exponential backoff with jitter between attempts, Twilio's
// Retry-After when it gives one, and a bound on the whole call. Zero fields
// take the defaults below.
type Retry struct {
	// Initial is the first wait (default 250ms); each next wait doubles,
	// randomised by ±50%, up to Max (default 5s).
	Initial time.Duration
	Max     time.Duration
	// Total bounds an OpenChat, retries and waits included (default 25s). A
	// Retry-After that does not fit in what is left ends the retries.
	Total time.Duration
	// MaxAttempts bounds the attempts (default 8); 1 disables retrying.
	MaxAttempts int
}

// Default retry settings.
const (
	DefaultRetryInitial     = 250 * time.Millisecond
	DefaultRetryMax         = 5 * time.Second
	DefaultRetryTotal       = 25 * time.Second
	DefaultRetryMaxAttempts = 8
)

func (r Retry) withDefaults() Retry {
	if r.Initial <= 0 {
		r.Initial = DefaultRetryInitial
	}
	if r.Max <= 0 {
		r.Max = DefaultRetryMax
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if r.Total <= 0 {
		r.Total = DefaultRetryTotal
	}
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = DefaultRetryMaxAttempts
	}
	return r
}

// Breaker configures the circuit breaker every Twilio call of a Client goes
// through. After Failures consecutive failed calls (429, 5xx, timeouts,
// network errors; a 4xx is Twilio answering, not failing) it opens: calls
// fail at once with an *Error wrapping ErrCircuitOpen, without reaching
// Twilio, for OpenFor; then one trial call decides whether it closes again.
// Zero fields take the defaults below.
type Breaker struct {
	Failures uint32
	OpenFor  time.Duration
}

// Default circuit breaker settings.
const (
	DefaultBreakerFailures = 5
	DefaultBreakerOpenFor  = 30 * time.Second
)

func (b Breaker) withDefaults() Breaker {
	if b.Failures == 0 {
		b.Failures = DefaultBreakerFailures
	}
	if b.OpenFor <= 0 {
		b.OpenFor = DefaultBreakerOpenFor
	}
	return b
}

// Config holds the Twilio settings of a Client. It is loaded and validated by
// cmd/; the zero value is not usable.
//
// AuthToken and APIKeySecret are secrets: Config's String and LogValue methods
// print a placeholder instead of them.
type Config struct {
	// Mode selects current (Conversations) or legacy (Flex Flow) Flex; empty
	// means ModeConversations.
	Mode Mode
	// AccountSID is the Twilio account ("AC" + 32 hex digits).
	AccountSID string
	// AuthToken authenticates REST calls as AccountSID. When empty, REST
	// calls authenticate with APIKeySID/APIKeySecret instead. Twilio signs
	// webhooks with it, so webhooks cannot be verified without it.
	AuthToken string
	// APIKeySID ("SK" + 32 hex digits) and APIKeySecret sign customer access
	// tokens (and authenticate REST calls when AuthToken is empty).
	APIKeySID    string
	APIKeySecret string

	// AddressSID ("IG" + 32 hex digits) is the Flex web chat Conversations
	// Address (console: Flex > Manage > Messaging > Conversations addresses).
	// Conversations mode only.
	AddressSID string
	// ConversationsServiceSID ("IS" + 32 hex digits) is the Conversations
	// service the access token's ChatGrant gives access to: the account's
	// default Conversations service, where Flex web chats live.
	// Conversations mode only.
	ConversationsServiceSID string

	// FlexFlowSID ("FO" + 32 hex digits) is the enabled Flex Flow of channel
	// type web that chats are created in (console: Flex > Manage > Messaging,
	// legacy Flex Flows). Flex Flow mode only.
	FlexFlowSID string
	// ChatServiceSID ("IS" + 32 hex digits) is the Programmable Chat service
	// of that Flex Flow (console: Programmable Chat > Services, "Flex Chat
	// Service"), which the access token's ChatGrant gives access to. Flex
	// Flow mode only.
	ChatServiceSID string

	// WorkspaceSID ("WS" + 32 hex digits) is the TaskRouter workspace of the
	// account's Flex tasks (console: TaskRouter > Workspaces, "Flex Task
	// Assignment"). Optional: without it, erasure cannot find the tasks a
	// chat made, and leaves them as they are.
	WorkspaceSID string

	// ChatInactiveAfter and ChatCloseAfter are the conversation timers
	// OpenChat sets (conversations mode): Twilio makes the conversation
	// inactive, then closed, when that long has passed without a message.
	// Zero sets no timer. Twilio's minimums are MinChatInactiveAfter and
	// MinChatCloseAfter; ChatCloseAfter must exceed ChatInactiveAfter.
	ChatInactiveAfter time.Duration
	ChatCloseAfter    time.Duration

	// BaseURL is empty for Twilio's real hosts. Otherwise it is the root of a
	// Twilio API emulator, e.g. "http://127.0.0.1:8080/_twilio": a request for
	// https://{label}.twilio.com/{path} is sent to {BaseURL}/{label}/{path}.
	BaseURL string
	// HTTPClient sends every request. Nil means a client with DefaultTimeout
	// that does not follow redirects; a client without a timeout is used with
	// DefaultTimeout added. http.DefaultClient is never used.
	HTTPClient *http.Client
	// Retry and Breaker tune resilience; the zero values are the defaults.
	Retry   Retry
	Breaker Breaker
	// Logger receives operational logs (never secrets or claims); nil discards.
	Logger *slog.Logger
	// Meter receives measurements of the calls to Twilio (meter.go); nil measures nothing.
	Meter Meter
}

// mode is c.Mode with the default applied.
func (c Config) mode() Mode {
	if c.Mode == "" {
		return ModeConversations
	}
	return c.Mode
}

// Validate reports every missing or malformed setting, naming each one. It
// never echoes a secret.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("flex: config %s: %s", field, fmt.Sprintf(format, args...)))
	}
	sid := func(field, value, prefix string) {
		switch {
		case value == "":
			bad(field, "missing (want %q followed by 32 hex digits)", prefix)
		case !validSID(value, prefix):
			bad(field, "%q is not %q followed by 32 hex digits", value, prefix)
		}
	}
	optionalSID := func(field, value, prefix string) {
		if value != "" && !validSID(value, prefix) {
			bad(field, "%q is not %q followed by 32 hex digits", value, prefix)
		}
	}
	secret := func(field, value string) {
		switch {
		case value == "":
			bad(field, "missing")
		case !validSecret(value):
			bad(field, "malformed (want 32 letters or digits)")
		}
	}

	sid("AccountSID", c.AccountSID, "AC")
	if c.AuthToken != "" {
		secret("AuthToken", c.AuthToken)
	}
	sid("APIKeySID", c.APIKeySID, "SK")
	secret("APIKeySecret", c.APIKeySecret)
	switch c.Mode {
	case "", ModeConversations:
		sid("AddressSID", c.AddressSID, "IG")
		sid("ConversationsServiceSID", c.ConversationsServiceSID, "IS")
		optionalSID("FlexFlowSID", c.FlexFlowSID, "FO")
		optionalSID("ChatServiceSID", c.ChatServiceSID, "IS")
	case ModeFlexFlow:
		sid("FlexFlowSID", c.FlexFlowSID, "FO")
		sid("ChatServiceSID", c.ChatServiceSID, "IS")
		optionalSID("AddressSID", c.AddressSID, "IG")
		optionalSID("ConversationsServiceSID", c.ConversationsServiceSID, "IS")
	default:
		bad("Mode", "%q is not %q or %q", c.Mode, ModeConversations, ModeFlexFlow)
	}
	optionalSID("WorkspaceSID", c.WorkspaceSID, "WS")
	if c.BaseURL != "" {
		if err := checkBaseURL(c.BaseURL); err != nil {
			bad("BaseURL", "%v", err)
		}
	}
	if c.Retry.Initial < 0 || c.Retry.Max < 0 || c.Retry.Total < 0 || c.Retry.MaxAttempts < 0 {
		bad("Retry", "durations and attempts must not be negative")
	}
	switch {
	case c.ChatInactiveAfter < 0 || c.ChatCloseAfter < 0:
		bad("ChatInactiveAfter/ChatCloseAfter", "must not be negative")
	case c.ChatInactiveAfter > 0 && c.ChatInactiveAfter < MinChatInactiveAfter:
		bad("ChatInactiveAfter", "%v is below Twilio's minimum of %v", c.ChatInactiveAfter, MinChatInactiveAfter)
	case c.ChatCloseAfter > 0 && c.ChatCloseAfter < MinChatCloseAfter:
		bad("ChatCloseAfter", "%v is below Twilio's minimum of %v", c.ChatCloseAfter, MinChatCloseAfter)
	case c.ChatCloseAfter > 0 && c.ChatCloseAfter <= c.ChatInactiveAfter:
		bad("ChatCloseAfter", "%v must be longer than ChatInactiveAfter (%v)", c.ChatCloseAfter, c.ChatInactiveAfter)
	}
	if c.Breaker.OpenFor < 0 {
		bad("Breaker", "OpenFor must not be negative")
	}
	return errors.Join(errs...)
}

// LogValue implements slog.LogValuer: the settings, secrets replaced.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("mode", string(c.mode())),
		slog.String("account_sid", c.AccountSID),
		slog.String("auth_token", redact(c.AuthToken)),
		slog.String("api_key_sid", c.APIKeySID),
		slog.String("api_key_secret", redact(c.APIKeySecret)),
		slog.String("address_sid", c.AddressSID),
		slog.String("conversations_service_sid", c.ConversationsServiceSID),
		slog.String("flex_flow_sid", c.FlexFlowSID),
		slog.String("chat_service_sid", c.ChatServiceSID),
		slog.String("workspace_sid", c.WorkspaceSID),
		slog.String("base_url", c.BaseURL),
	)
}

// String prints the settings with secrets replaced, so that %v and %+v of a
// Config never leak them.
func (c Config) String() string {
	return fmt.Sprintf("flex.Config{Mode:%s AccountSID:%s AuthToken:%s APIKeySID:%s APIKeySecret:%s AddressSID:%s ConversationsServiceSID:%s FlexFlowSID:%s ChatServiceSID:%s WorkspaceSID:%s BaseURL:%q}",
		c.mode(), c.AccountSID, redact(c.AuthToken), c.APIKeySID, redact(c.APIKeySecret), c.AddressSID,
		c.ConversationsServiceSID, c.FlexFlowSID, c.ChatServiceSID, c.WorkspaceSID, c.BaseURL)
}

// GoString is String, for %#v.
func (c Config) GoString() string { return c.String() }

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "[redacted]"
}

// validSID reports whether s is prefix followed by 32 hex digits.
func validSID(s, prefix string) bool {
	if len(s) != 34 || s[:2] != prefix {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// validSecret reports whether s looks like a Twilio auth token or API key
// secret: 32 ASCII letters or digits (twilio-go refuses anything else).
func validSecret(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must be an http or https URL", raw)
	case u.Host == "":
		return fmt.Errorf("%q has no host", raw)
	case u.User != nil:
		return errors.New("must not carry credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must not have a query or fragment", raw)
	}
	return nil
}
