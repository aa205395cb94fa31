package flex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// This file checks a Flex agent's token (the JWE the Flex UI holds, e.g.
// manager.user.token in a plugin) with Twilio's token validation API, as the
// twilio-flex-token-validator npm package does:
//
//	POST https://iam.twilio.com/v1/Accounts/{AccountSid}/Tokens/validate
//	Authorization: Basic AccountSid:AuthToken (or API key SID:secret)
//	{"token": "…"}
//
// answered with {"valid", "code", "message", "expiration", "realm_user_id",
// "identity", "roles", "worker_sid"}. A token of another account, expired or
// malformed is answered valid=false.

// ErrAgentTokenInvalid is returned by ValidateAgentToken for a missing,
// malformed, expired or foreign Flex token: the caller is not an agent of the
// account.
var ErrAgentTokenInvalid = errors.New("flex: the Flex token is not valid for this account")

// ErrAgentTokenUnavailable is wrapped by ValidateAgentToken's error when
// Twilio could not say (unreachable, timed out, 5xx, refused the account's
// credentials): the token is neither accepted nor known to be bad.
var ErrAgentTokenUnavailable = errors.New("flex: Twilio's token validation is unavailable")

// Agent is a Flex user whose token Twilio validated.
type Agent struct {
	Identity    string    // the Flex user's identity
	WorkerSID   string    // WK…; empty for a user who is not a TaskRouter worker
	RealmUserID string    // the user's ID in the Flex SSO realm
	Roles       []string  // agent, supervisor, admin, …
	ExpiresAt   time.Time // the token's expiry
}

// TokenValidator checks Flex agents' tokens with Twilio's token validation
// API, with the account's credentials. It is safe for concurrent use.
type TokenValidator struct {
	account    string
	user, pass string
	endpoint   string
	hc         *http.Client
}

// NewTokenValidator returns a validator for cfg's account: it authenticates
// with the Auth Token, or the API key when there is none; it calls
// iam.twilio.com, or {BaseURL}/iam/… when BaseURL is set (the emulator).
func NewTokenValidator(cfg Config) (*TokenValidator, error) {
	if !validSID(cfg.AccountSID, "AC") {
		return nil, errors.New("flex: token validator: AccountSID missing or malformed")
	}
	user, pass, ok := cfg.restCredentials()
	if !ok {
		return nil, errors.New("flex: token validator: needs the Auth Token or an API key")
	}
	base := "https://iam.twilio.com"
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL); err != nil {
			return nil, fmt.Errorf("flex: token validator: BaseURL: %w", err)
		}
		base = strings.TrimSuffix(cfg.BaseURL, "/") + "/iam"
	}
	return &TokenValidator{
		account: cfg.AccountSID, user: user, pass: pass,
		endpoint: base + "/v1/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Tokens/validate",
		hc:       httpClient(cfg.HTTPClient),
	}, nil
}

// maxAgentToken bounds the token sent to Twilio: Flex tokens are a few KB.
const maxAgentToken = 16 << 10

// ValidateAgentToken asks Twilio whether token is a valid Flex token of the
// account. It returns the agent, ErrAgentTokenInvalid, or an error wrapping
// ErrAgentTokenUnavailable. No error ever contains the token or a credential.
func (v *TokenValidator) ValidateAgentToken(ctx context.Context, token string) (*Agent, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxAgentToken {
		return nil, ErrAgentTokenInvalid
	}
	body, _ := json.Marshal(map[string]string{"token": token})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrAgentTokenUnavailable, err)
	}
	req.SetBasicAuth(v.user, v.pass)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := v.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL holds no secret, but keep the message short
		}
		return nil, fmt.Errorf("%w: %v", ErrAgentTokenUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %v", ErrAgentTokenUnavailable, err)
	}
	if resp.StatusCode != http.StatusOK {
		// 401/403: the account's own credentials were refused; 429/5xx: Twilio failed.
		// Either way nothing is known about the agent's token.
		return nil, fmt.Errorf("%w: twilio %d", ErrAgentTokenUnavailable, resp.StatusCode)
	}
	var out struct {
		Valid       bool     `json:"valid"`
		Code        int      `json:"code"`
		Expiration  string   `json:"expiration"`
		RealmUserID string   `json:"realm_user_id"`
		Identity    string   `json:"identity"`
		Roles       []string `json:"roles"`
		WorkerSID   string   `json:"worker_sid"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%w: unreadable answer", ErrAgentTokenUnavailable)
	}
	if !out.Valid {
		return nil, ErrAgentTokenInvalid
	}
	a := &Agent{Identity: out.Identity, WorkerSID: out.WorkerSID, RealmUserID: out.RealmUserID, Roles: out.Roles}
	if out.Expiration != "" {
		exp, err := time.Parse(time.RFC3339, out.Expiration)
		if err != nil {
			return nil, fmt.Errorf("%w: unreadable expiration", ErrAgentTokenUnavailable)
		}
		if !exp.After(time.Now()) {
			return nil, ErrAgentTokenInvalid
		}
		a.ExpiresAt = exp
	}
	return a, nil
}
