package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Flex agent tokens. The Flex UI holds a JWE token for the signed-in agent, which a plugin
// sends to its backend; the backend asks Twilio whether it is valid (POST
// iam.twilio.com/v1/Accounts/{AccountSid}/Tokens/validate, JSON {"token"}), as the
// twilio-flex-token-validator package does. The emulator mints its own opaque tokens for the
// agent of its agent view (Config.AgentIdentity) and validates them on that endpoint: valid
// until their expiry, and only for the account that minted them (an emulator of another
// account, or another Auth Token, finds them invalid). They are not Twilio's JWE.

const flexTokenPrefix = "FLEXEMU."

type flexTokenClaims struct {
	Account   string `json:"acc"`
	Identity  string `json:"sub"`
	WorkerSID string `json:"wk"`
	Expires   int64  `json:"exp"`
}

// AgentToken returns a Flex token of the emulator's agent (Config.AgentIdentity) that its
// token validation endpoint accepts until expires (which may be in the past, for tests).
func (e *Emulator) AgentToken(expires time.Time) string {
	b, _ := json.Marshal(flexTokenClaims{Account: e.cfg.AccountSID, Identity: e.cfg.AgentIdentity,
		WorkerSID: e.workerSID(), Expires: expires.Unix()})
	payload := flexTokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(e.flexTokenMAC(payload))
}

// workerSID is the TaskRouter worker of the emulator's agent: fixed by the account.
func (e *Emulator) workerSID() string {
	sum := sha256.Sum256([]byte("worker|" + e.cfg.AccountSID + "|" + e.cfg.AgentIdentity))
	return "WK" + strings.ToLower(base16(sum[:16]))
}

func base16(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func (e *Emulator) flexTokenMAC(payload string) []byte {
	mac := hmac.New(sha256.New, []byte("flex-token|"+e.cfg.AuthToken))
	mac.Write([]byte(payload))
	return mac.Sum(nil)
}

// checkFlexToken returns the claims of a valid token, or Twilio's code and message.
func (e *Emulator) checkFlexToken(token string) (flexTokenClaims, int, string) {
	var c flexTokenClaims
	i := strings.LastIndexByte(token, '.')
	if i < 0 || !strings.HasPrefix(token, flexTokenPrefix) {
		return c, codeAccessTokenInvalid, "Invalid Access Token"
	}
	payload, sig := token[:i], token[i+1:]
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, e.flexTokenMAC(payload)) {
		return c, codeAccessTokenInvalid, "Invalid Access Token signature"
	}
	if !decodeSegment(strings.TrimPrefix(payload, flexTokenPrefix), &c) || c.Account != e.cfg.AccountSID {
		return c, codeAccessTokenInvalid, "Invalid Access Token"
	}
	if !e.now().Before(time.Unix(c.Expires, 0)) {
		return c, codeAccessTokenExpired, "Access Token expired or expiration date invalid"
	}
	return c, 0, ""
}

// validateToken serves POST /iam/v1/Accounts/{account}/Tokens/validate. Twilio answers 200 with
// valid=false for a bad token; a missing token is a bad request.
func (e *Emulator) validateToken(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("account") != e.cfg.AccountSID {
		notFound(w, r)
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	body, _ := io.ReadAll(r.Body)
	if json.Unmarshal(body, &in) != nil || in.Token == "" {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Missing required parameter token in the post body")
		return
	}
	c, code, msg := e.checkFlexToken(strings.TrimSpace(in.Token))
	if code != 0 {
		writeJSON(w, http.StatusOK, map[string]any{"valid": false, "code": code, "message": msg,
			"expiration": nil, "realm_user_id": nil, "identity": nil, "roles": nil, "worker_sid": nil})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"valid": true, "code": 0, "message": nil,
		"expiration":    time.Unix(c.Expires, 0).UTC().Format(time.RFC3339),
		"realm_user_id": c.Identity, "identity": c.Identity,
		"roles": []string{"agent"}, "worker_sid": c.WorkerSID,
	})
}
