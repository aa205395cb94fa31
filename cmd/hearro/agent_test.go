package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// TestAgentChatVerification: the Flex plugin's route, end to end. A customer is verified and
// bound; an agent's Flex token (minted by the built-in emulator, validated through Twilio's
// token validation API as the emulator serves it) gets exactly the summary the agent sees —
// no holder DID, no undisplayed claim. Missing, expired, foreign and CRM tokens get 401, an
// unknown chat 404, Twilio failing 503; CORS only for the Flex origins, on this route only.
func TestAgentChatVerification(t *testing.T) {
	s := startTestService(t)
	c, st, sum := s.boundSession(t)
	chat := st.Chat.ConversationSID
	path := "/v1/agent/chats/" + chat + "/verification"
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	agentToken := s.emulator.AgentToken(time.Now().Add(time.Hour))
	dev := emulator.DevConfig()

	t.Run("a valid agent token gets the summary the agent sees, nothing more", func(t *testing.T) {
		before := len(s.emulator.Requests())
		resp, body := do(t, http.MethodGet, s.url+path, bearer(agentToken), "")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%d %s (Cache-Control %q)", resp.StatusCode, body, resp.Header.Get("Cache-Control"))
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		keys := make([]string, 0, len(got))
		for k := range got {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"assurance", "claims", "credential_type", "issuer", "issuer_name", "verified", "verified_at"}; !slices.Equal(keys, want) {
			t.Fatalf("fields %v, want %v: %s", keys, want, body)
		}
		claims, _ := got["claims"].(map[string]any)
		if got["verified"] != true || got["issuer"] != issuer.DevelopmentDID() || got["credential_type"] != "VerifiedCustomer" ||
			got["issuer_name"] != "HearRo development issuer" || got["assurance"] != "development" || len(claims) != 2 || claims["givenName"] != "Ada" || claims["familyName"] != "Lovelace" {
			t.Fatalf("summary %s", body)
		}
		if _, err := time.Parse(time.RFC3339, got["verified_at"].(string)); err != nil {
			t.Fatalf("verified_at %v", got["verified_at"])
		}
		for _, secret := range []string{sum.HolderDID, "holder", "M-31415", "memberId", st.IdentityID, st.Chat.Identity} {
			if secret != "" && strings.Contains(string(body), secret) {
				t.Fatalf("the agent route leaks %q: %s", secret, body)
			}
		}
		// The token was checked with Twilio's token validation API, as the account.
		var validated bool
		for _, r := range s.emulator.Requests()[before:] {
			if r.Operation == "ValidateToken" && r.Path == "/_twilio/iam/v1/Accounts/"+dev.AccountSID+"/Tokens/validate" && r.AuthUser == dev.AccountSID {
				validated = true
			}
		}
		if !validated {
			t.Fatal("the token was not validated with the emulator's token validation API")
		}
	})

	other := emulator.New(emulator.Config{AccountSID: "AC" + strings.Repeat("5", 32), AuthToken: strings.Repeat("q", 32)})
	refused := []struct {
		name   string
		header map[string]string
		code   string
	}{
		{"no token", nil, "unauthorized"},
		{"empty bearer", map[string]string{"Authorization": "Bearer "}, "unauthorized"},
		{"Basic credentials", map[string]string{"Authorization": "Basic YWdlbnQ6c2VjcmV0"}, "unauthorized"},
		{"expired token", bearer(s.emulator.AgentToken(time.Now().Add(-time.Minute))), "flex_token_invalid"},
		{"another account's token", bearer(other.AgentToken(time.Now().Add(time.Hour))), "flex_token_invalid"},
		{"malformed token", bearer("not.a.flex.token"), "flex_token_invalid"},
		{"a CRM access token is not a Flex token", map[string]string{"Authorization": s.crmToken(t, "identities:read")}, "flex_token_invalid"},
		{"a customer's chat token is not a Flex token", bearer(st.Chat.Token), "flex_token_invalid"},
	}
	for _, tc := range refused {
		t.Run("401/"+tc.name, func(t *testing.T) {
			resp, body := do(t, http.MethodGet, s.url+path, tc.header, "")
			p := problemOf(t, resp, body)
			if resp.StatusCode != http.StatusUnauthorized || p.Code != tc.code || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Fatalf("%d %s (WWW-Authenticate %q)", resp.StatusCode, body, resp.Header.Get("WWW-Authenticate"))
			}
			if strings.Contains(string(body), "Ada") || strings.Contains(string(body), issuer.DevelopmentDID()) {
				t.Fatalf("a refusal carries the summary: %s", body)
			}
		})
	}

	t.Run("404/unknown chat", func(t *testing.T) {
		for _, sid := range []string{"CH" + strings.Repeat("0", 32), "nope", "CH%2F..%2Fx"} {
			resp, body := do(t, http.MethodGet, s.url+"/v1/agent/chats/"+sid+"/verification", bearer(agentToken), "")
			if p := problemOf(t, resp, body); resp.StatusCode != http.StatusNotFound || p.Code != "not_found" {
				t.Fatalf("%s: %d %s", sid, resp.StatusCode, body)
			}
		}
	})

	t.Run("503/Twilio cannot validate", func(t *testing.T) {
		s.emulator.InjectFault(emulator.Fault{Op: "ValidateToken", Service: "iam", Status: http.StatusServiceUnavailable, Times: 1})
		resp, body := do(t, http.MethodGet, s.url+path, bearer(agentToken), "")
		if p := problemOf(t, resp, body); resp.StatusCode != http.StatusServiceUnavailable || p.Code != "flex_unavailable" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		if strings.Contains(string(body), agentToken) {
			t.Fatalf("the answer holds the token: %s", body)
		}
	})

	preflight := func(t *testing.T, svc *testService, p, origin string) *http.Response {
		t.Helper()
		resp, _ := do(t, http.MethodOptions, svc.url+p, map[string]string{"Origin": origin,
			"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}, "")
		return resp
	}
	t.Run("CORS for the Flex origins only", func(t *testing.T) {
		for _, origin := range []string{"https://flex.twilio.com", s.url} { // development defaults
			resp := preflight(t, s, path, origin)
			if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
				!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "authorization") ||
				!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
				t.Fatalf("preflight from %s: %d %v", origin, resp.StatusCode, resp.Header)
			}
			resp, body := do(t, http.MethodGet, s.url+path, map[string]string{"Origin": origin, "Authorization": "Bearer " + agentToken}, "")
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != origin {
				t.Fatalf("GET from %s: %d %v %s", origin, resp.StatusCode, resp.Header, body)
			}
		}
		for _, origin := range []string{"https://evil.example", "https://flex.twilio.com.evil.example", "null"} {
			resp := preflight(t, s, path, origin)
			if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
				t.Fatalf("preflight from %s allowed: %q", origin, h)
			}
			resp, _ = do(t, http.MethodGet, s.url+path, map[string]string{"Origin": origin, "Authorization": "Bearer " + agentToken}, "")
			if h := resp.Header.Get("Access-Control-Allow-Origin"); h != "" {
				t.Fatalf("GET from %s allowed: %q", origin, h)
			}
		}
		// No other route answers cross-origin requests.
		for _, p := range []string{"/v1/identities", "/v1/sessions"} {
			if h := preflight(t, s, p, "https://flex.twilio.com").Header.Get("Access-Control-Allow-Origin"); h != "" {
				t.Fatalf("%s allows https://flex.twilio.com: %q", p, h)
			}
		}
	})

	t.Run("--flex-origins replaces the defaults", func(t *testing.T) {
		custom := startTestServiceWith(t, func(c *serveConfig) { c.FlexOrigins = []string{"https://acme.example.com/"} })
		if h := preflight(t, custom, path, "https://acme.example.com").Header.Get("Access-Control-Allow-Origin"); h != "https://acme.example.com" {
			t.Fatalf("configured origin: %q", h)
		}
		if h := preflight(t, custom, path, "https://flex.twilio.com").Header.Get("Access-Control-Allow-Origin"); h != "" {
			t.Fatalf("default origin still allowed: %q", h)
		}
	})

	t.Run("404/once the chat is closed", func(t *testing.T) {
		if err := s.emulator.CloseChat(chat); err != nil {
			t.Fatal(err)
		}
		s.waitStatus(t, c, "closed")
		resp, body := do(t, http.MethodGet, s.url+path, bearer(agentToken), "")
		if p := problemOf(t, resp, body); resp.StatusCode != http.StatusNotFound || p.Code != "not_found" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
}

type problemDoc struct {
	Code   string `json:"code"`
	Status int    `json:"status"`
}

func problemOf(t *testing.T, resp *http.Response, body []byte) problemDoc {
	t.Helper()
	var p problemDoc
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q: %s", ct, body)
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return p
}
