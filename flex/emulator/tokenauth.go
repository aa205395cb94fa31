package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// customerKey is the context key of a customer's identity, set when a
// request was authenticated with an access token.
type customerKey struct{}

// customerOf returns the identity of the customer who made r, if a customer
// did (rather than the account).
func customerOf(r *http.Request) (string, bool) {
	id, ok := r.Context().Value(customerKey{}).(string)
	return id, ok
}

// accessToken returns the access token r carries: Authorization: Bearer, or
// Twilio's X-Twilio-Token.
func accessToken(r *http.Request) string {
	if t := r.Header.Get("X-Twilio-Token"); t != "" {
		return t
	}
	if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(t)
	}
	return ""
}

// tokenClockSkew is the leeway allowed on a token's nbf and exp.
const tokenClockSkew = 30 * time.Second

// customer checks a customer's access token for rt, as Twilio checks it: an
// HS256 JWT signed with the API key secret, issued by the API key for the
// account, within its validity, with an identity and a chat grant for the
// service rt belongs to. It returns the identity, or the error to answer.
func (e *Emulator) customer(token string, rt route) (identity string, status, code int, msg string) {
	if rt.customer == "" {
		return "", http.StatusForbidden, codeForbidden, "An access token may not be used for this resource"
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", http.StatusUnauthorized, codeAccessTokenInvalid, "Invalid Access Token"
	}
	var header struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	var claims struct {
		Jti    string  `json:"jti"`
		Iss    string  `json:"iss"`
		Sub    string  `json:"sub"`
		Exp    float64 `json:"exp"`
		Nbf    float64 `json:"nbf"`
		Grants struct {
			Identity string `json:"identity"`
			Chat     *struct {
				ServiceSID string `json:"service_sid"`
			} `json:"chat"`
		} `json:"grants"`
	}
	if !decodeSegment(parts[0], &header) || !decodeSegment(parts[1], &claims) || header.Alg != "HS256" {
		return "", http.StatusUnauthorized, codeAccessTokenInvalid, "Invalid Access Token"
	}
	mac := hmac.New(sha256.New, []byte(e.cfg.APIKeySecret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) || claims.Iss != e.cfg.APIKeySID {
		return "", http.StatusUnauthorized, codeAccessTokenInvalid, "Invalid Access Token signature"
	}
	if claims.Sub != e.cfg.AccountSID {
		return "", http.StatusUnauthorized, codeAccessTokenInvalid, "Invalid Access Token subject"
	}
	now := time.Now()
	if claims.Exp == 0 || now.After(time.Unix(int64(claims.Exp), 0).Add(tokenClockSkew)) {
		return "", http.StatusUnauthorized, codeAccessTokenExpired, "Access Token expired or expiration date invalid"
	}
	if claims.Nbf != 0 && now.Add(tokenClockSkew).Before(time.Unix(int64(claims.Nbf), 0)) {
		return "", http.StatusUnauthorized, codeAccessTokenInvalid, "Access Token not yet valid"
	}
	if claims.Grants.Identity == "" {
		return "", http.StatusUnauthorized, codeAccessTokenInvalid, "Access Token has no identity"
	}
	if claims.Grants.Chat == nil || claims.Grants.Chat.ServiceSID != rt.customer {
		return claims.Grants.Identity, http.StatusForbidden, codeForbidden, "Access Token does not grant access to service " + rt.customer
	}
	return claims.Grants.Identity, 0, 0, ""
}

func decodeSegment(seg string, v any) bool {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	return err == nil && json.Unmarshal(b, v) == nil
}
