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

// Config holds the Twilio settings of a Client. It is loaded and validated by
// cmd/; the zero value is not usable.
//
// AuthToken and APIKeySecret are secrets: Config's String and LogValue methods
// print a placeholder instead of them.
type Config struct {
	// AccountSID is the Twilio account ("AC" + 32 hex digits).
	AccountSID string
	// AuthToken authenticates REST calls as AccountSID. When empty, REST
	// calls authenticate with APIKeySID/APIKeySecret instead.
	AuthToken string
	// APIKeySID ("SK" + 32 hex digits) and APIKeySecret sign customer access
	// tokens (and authenticate REST calls when AuthToken is empty).
	APIKeySID    string
	APIKeySecret string
	// AddressSID ("IG" + 32 hex digits) is the Flex web chat Conversations
	// Address (console: Flex > Manage > Messaging > Conversations addresses).
	AddressSID string
	// ConversationsServiceSID ("IS" + 32 hex digits) is the Conversations
	// service the access token's ChatGrant gives access to.
	ConversationsServiceSID string
	// BaseURL is empty for Twilio's real hosts. Otherwise it is the root of a
	// Twilio API emulator, e.g. "http://127.0.0.1:8080/_twilio": a request for
	// https://{label}.twilio.com/{path} is sent to {BaseURL}/{label}/{path}.
	BaseURL string
	// HTTPClient sends every request. Nil means a client with DefaultTimeout
	// that does not follow redirects; a client without a timeout is used with
	// DefaultTimeout added. http.DefaultClient is never used.
	HTTPClient *http.Client
	// Logger receives operational logs (never secrets or claims); nil discards.
	Logger *slog.Logger
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
	sid("AddressSID", c.AddressSID, "IG")
	sid("ConversationsServiceSID", c.ConversationsServiceSID, "IS")
	if c.BaseURL != "" {
		if err := checkBaseURL(c.BaseURL); err != nil {
			bad("BaseURL", "%v", err)
		}
	}
	return errors.Join(errs...)
}

// LogValue implements slog.LogValuer: the settings, secrets replaced.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("account_sid", c.AccountSID),
		slog.String("auth_token", redact(c.AuthToken)),
		slog.String("api_key_sid", c.APIKeySID),
		slog.String("api_key_secret", redact(c.APIKeySecret)),
		slog.String("address_sid", c.AddressSID),
		slog.String("conversations_service_sid", c.ConversationsServiceSID),
		slog.String("base_url", c.BaseURL),
	)
}

// String prints the settings with secrets replaced, so that %v and %+v of a
// Config never leak them.
func (c Config) String() string {
	return fmt.Sprintf("flex.Config{AccountSID:%s AuthToken:%s APIKeySID:%s APIKeySecret:%s AddressSID:%s ConversationsServiceSID:%s BaseURL:%q}",
		c.AccountSID, redact(c.AuthToken), c.APIKeySID, redact(c.APIKeySecret), c.AddressSID, c.ConversationsServiceSID, c.BaseURL)
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
