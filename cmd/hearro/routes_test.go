package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/lestrrat-go/jwx/v2/jwt"
	"github.com/spf13/cobra"
	"github.com/twilio/twilio-go/client"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/internal/demo/issuer"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// provokableStatuses are the error statuses TestRouteStatuses provokes wherever
// api/openapi.yaml lists them. 503 has tests of its own (TestHealthAndReadiness, the Redis
// outage in replicas_test.go).
var provokableStatuses = []int{400, 401, 403, 404, 409, 410, 413, 415, 422, 429}

// statusesTestedElsewhere are documented statuses other tests provoke, with their code checked.
var statusesTestedElsewhere = map[string]string{
	"POST /v1/sessions 400":             "TestAPIErrors (invalid_json)",
	"POST /v1/sessions 413":             "TestAPIErrors (payload_too_large)",
	"POST /v1/sessions 415":             "TestAPIErrors (unsupported_media_type)",
	"POST /v1/sessions 422":             "TestAPIErrors (unknown_policy)",
	"GET /v1/sessions/{id} 401":         "TestAPIErrors (unauthorized, invalid_token)",
	"GET /v1/sessions/{id}/events 401":  "TestAPIErrors (unauthorized)",
	"GET /v1/sessions/{id}/qr.png 404":  "TestAPIErrors (not_found)",
	"GET /i/{id} 404":                   "TestAPIErrors (not_found)",
	"GET /i/{id} 410":                   "TestInvitationLinkAndQRCodes (invitation_used)",
	"GET /v1/identities/{id} 404":       "TestAPIErrors (not_found)",
	"POST /oauth/token 401":             "TestCRMAuth (invalid_client)",
	"POST /v1/twilio/conversations 403": "TestTwilioWebhooks (webhook_rejected: unsigned, misaddressed, forged)",
	"POST /didcomm 400":                 "TestDIDCommEndpointRefusesBadInput",
	"POST /didcomm 413":                 "TestDIDCommEndpointRefusesBadInput",
	"POST /didcomm 415":                 "TestDIDCommEndpointRefusesBadInput",
	"POST /didcomm 409":                 "identity/didcomm TestASecondCopyOfAMessageInFlightIsRefused",
}

// statusesNotProvokedHere are documented statuses no test of this package provokes, and why.
var statusesNotProvokedHere = map[string]string{
	"POST /didcomm 422": "needs an envelope packed for the agent that its handler then refuses; " +
		"how the API passes the agent's 422 on is tested in api/didcomm_test.go",
}

// routeCase is one request and the answer api/openapi.yaml promises for it.
type routeCase struct {
	name   string
	route  string       // the documented operation: "METHOD /path/{param}"
	on     *testService // nil: the main service of the test
	path   string       // what is requested, query included
	header map[string]string
	body   string
	status int
	code   string // the problem's code; "" when the answer is not a problem (2xx)
}

func (tc routeCase) run(t *testing.T, main *testService) {
	t.Helper()
	s := tc.on
	if s == nil {
		s = main
	}
	method, _, _ := strings.Cut(tc.route, " ")
	resp, body := do(t, method, s.url+tc.path, tc.header, tc.body)
	if resp.StatusCode != tc.status {
		t.Fatalf("%s %s: %d, want %d: %s", method, tc.path, resp.StatusCode, tc.status, body)
	}
	if tc.code == "" {
		if resp.StatusCode == http.StatusNoContent && len(body) != 0 {
			t.Fatalf("204 with a body: %s", body)
		}
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json: %s", ct, body)
	}
	var p struct {
		Type, Code, Instance string
		Status               int
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	wantInstance, _, _ := strings.Cut(tc.path, "?")
	if p.Code != tc.code || p.Status != tc.status || p.Type != "https://hearro.dev/problems/"+tc.code || p.Instance != wantInstance {
		t.Fatalf("problem %s, want code %s", body, tc.code)
	}
	switch tc.status {
	case http.StatusUnauthorized:
		if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
			t.Fatalf("401 with WWW-Authenticate %q, want a Bearer challenge (RFC 6750)", h)
		}
	case http.StatusTooManyRequests:
		if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
			t.Fatalf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
}

// sessionTokenFor mints a session token the service accepts for session id, whether or not the
// session exists (as a token outlives a session the store no longer has).
func sessionTokenFor(t *testing.T, s *testService, id string) string {
	t.Helper()
	seed, err := s.backend.store.Secret(context.Background(), "session-token-key", func() ([]byte, error) { return nil, errors.New("must exist") })
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := api.NewSessionTokens(s.publicURL, seed)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokens.Mint(id, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signedTwilio is a form webhook to path of s, signed as Twilio signs it with authToken.
func signedTwilio(t *testing.T, s *testService, authToken, path string, form url.Values) (map[string]string, string) {
	t.Helper()
	sig := flex.SignWebhook(authToken, s.url+path, form)
	// The signature is Twilio's own: twilio-go's validator accepts it.
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	if rv := client.NewRequestValidator(authToken); !rv.Validate(s.url+path, params, sig) {
		t.Fatal("twilio-go's RequestValidator refuses the test's signature")
	}
	return map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}, form.Encode()
}

// productionWithoutAuthToken starts a service outside development mode whose Twilio account
// has only an API key (no Auth Token): Twilio's webhooks cannot be checked, so they are off.
func productionWithoutAuthToken(t *testing.T) *testService {
	t.Helper()
	shared := httptest.NewServer(emulator.New(emulator.DevConfig()))
	t.Cleanup(shared.Close)
	policy := filepath.Join(t.TempDir(), "policies.yaml")
	if err := os.WriteFile(policy, []byte(`policies:
  - name: gold
    purpose: Prove you are a customer.
    assurance: substantial
    credentials:
      - type: VerifiedCustomer
        issuers: ["`+issuer.DevelopmentDID()+`"]
    required_claims: [memberId]
    display_claims: [givenName]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	dev := emulator.DevConfig()
	return startTestServiceWith(t, func(c *serveConfig) {
		c.Dev, c.MasterKey, c.PolicyFile, c.DefaultPolicy = false, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", policy, "gold"
		c.TwilioAPIURL = shared.URL + "/_twilio"
		c.TwilioAccountSID, c.TwilioAPIKey, c.TwilioAPISecret = dev.AccountSID, dev.APIKeySID, dev.APIKeySecret
		c.TwilioAddressSID, c.TwilioConversationsServiceSID = dev.AddressSID, dev.ConversationsServiceSID
	})
}

// TestRouteStatuses provokes, for every operation of api/openapi.yaml, each error status the
// document lists for it (those in provokableStatuses), and checks the problem's stable code.
// A status listed in the document but neither provoked here, nor in statusesTestedElsewhere,
// nor explained in statusesNotProvokedHere fails the test.
func TestRouteStatuses(t *testing.T) {
	// The main service runs Flex Flow, so /v1/twilio/chat is the live webhook route.
	s := startTestServiceWith(t, func(c *serveConfig) { c.FlexMode = "flexflow" })
	limited := startTestServiceWith(t, func(c *serveConfig) { c.SessionRate, c.SessionBurst = 1, 1 })
	noWebhooks := productionWithoutAuthToken(t)

	// Customer A: a bound session (Flex Flow channel), its identity and DIDComm connection.
	bound, st, _ := s.boundSession(t)
	var ada identityJSON
	if code := getJSON(t, s.url+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), &ada); code != 200 || ada.ConnectionID == "" {
		t.Fatalf("identity: %d %+v", code, ada)
	}
	// Customer B: a bound session whose Flex Flow channel the agent closes.
	closing, closingState, _ := s.boundSession(t)
	invited := s.createSession(t) // not bound: no chat yet
	other := s.createSession(t)

	auth := func(v string) map[string]string { return map[string]string{"Authorization": v} }
	bearer := func(tok string) map[string]string { return auth("Bearer " + tok) }
	read, write, sessions := s.crmToken(t, "identities:read"), s.crmToken(t, "identities:write"), s.crmToken(t, "sessions:write")
	expired, _, _ := s.access.Mint("test-crm", []string{"identities:read"}, -time.Minute)
	foreignKey, _ := api.NewSigningKey(randomSeed(t))
	foreign, _, _ := api.NewAccessTokens(foreignKey, s.url, "", nil).Mint("test-crm", api.KnownScopes, time.Hour)
	jsonAs := func(token string) map[string]string {
		return map[string]string{"Authorization": token, "Content-Type": "application/json"}
	}
	big := `{"policy":"` + strings.Repeat("a", 70<<10) + `"}`
	bigForm := "EventType=" + strings.Repeat("a", 70<<10)
	dev := emulator.DevConfig()
	identity := "/v1/identities/" + ada.ID
	verify := "/v1/connections/" + ada.ConnectionID + "/verify"
	chatToken := func(id string) string { return "/v1/sessions/" + id + "/chat-token" }
	unknownSession := "01ARZ3NDEKTSV4RRFFQ69G5FAV"
	agentChat := func(sid string) string { return "/v1/agent/chats/" + sid + "/verification" }
	channel := url.Values{"EventType": {"onChannelUpdated"}, "AccountSid": {dev.AccountSID}, "InstanceSid": {dev.ChatServiceSID},
		"ChannelSid": {closingState.Chat.ConversationSID}, "Attributes": {`{"status":"INACTIVE"}`}, "Source": {"API"}}
	noChannel := url.Values{"EventType": {"onChannelUpdated"}, "AccountSid": {dev.AccountSID}, "Attributes": {`{"status":"INACTIVE"}`}}
	noConversation := url.Values{"EventType": {"onConversationStateUpdated"}, "AccountSid": {dev.AccountSID}, "StateTo": {"closed"}}
	signed := func(path string, form url.Values) (map[string]string, string) {
		return signedTwilio(t, s, dev.AuthToken, path, form)
	}
	badChatHeader, badChatBody := signed("/v1/twilio/chat", noChannel)
	badConvHeader, badConvBody := signed("/v1/twilio/conversations", noConversation)
	forgedHeader, forgedBody := signedTwilio(t, s, "someOtherAuthToken00000000000000", "/v1/twilio/chat", channel)
	misaddressedHeader, misaddressedBody := signed("/v1/twilio/conversations", channel) // sent to /v1/twilio/chat
	unsignedHeader := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}

	cases := []routeCase{
		// GET /v1/identities: the query is checked after the token, and nothing unknown passes.
		{name: "unknown parameter", route: "GET /v1/identities", path: "/v1/identities?memberId=100", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "limit 0", route: "GET /v1/identities", path: "/v1/identities?limit=0", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "limit above 200", route: "GET /v1/identities", path: "/v1/identities?limit=201", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "date that is not RFC 3339", route: "GET /v1/identities", path: "/v1/identities?verified_since=yesterday", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "repeated parameter", route: "GET /v1/identities", path: "/v1/identities?issuer=a&issuer=b", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "claim without a name", route: "GET /v1/identities", path: "/v1/identities?claims.=100", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "cursor not base64url", route: "GET /v1/identities", path: "/v1/identities?cursor=%21%21", header: auth(read), status: 400, code: "invalid_cursor"},
		{name: "empty cursor", route: "GET /v1/identities", path: "/v1/identities?cursor=", header: auth(read), status: 400, code: "invalid_cursor"},
		{name: "no token (before the query is read)", route: "GET /v1/identities", path: "/v1/identities?memberId=100", status: 401, code: "unauthorized"},
		{name: "expired token", route: "GET /v1/identities", path: "/v1/identities", header: bearer(expired), status: 401, code: "invalid_token"},
		{name: "token signed by another key", route: "GET /v1/identities", path: "/v1/identities", header: bearer(foreign), status: 401, code: "invalid_token"},
		{name: "Basic credentials", route: "GET /v1/identities", path: "/v1/identities", header: auth("Basic Y3JtOnNlY3JldA=="), status: 401, code: "unauthorized"},
		{name: "identities:write cannot list", route: "GET /v1/identities", path: "/v1/identities", header: auth(write), status: 403, code: "insufficient_scope"},
		{name: "sessions:write cannot list", route: "GET /v1/identities", path: "/v1/identities", header: auth(sessions), status: 403, code: "insufficient_scope"},

		// GET /v1/identities/{id} (404: TestAPIErrors; more 401/403 without codes: TestCRMAuth).
		{name: "no token", route: "GET /v1/identities/{id}", path: identity, status: 401, code: "unauthorized"},
		{name: "identities:write cannot read", route: "GET /v1/identities/{id}", path: identity, header: auth(write), status: 403, code: "insufficient_scope"},

		// DELETE /v1/identities/{id} (the 403 must not erase: the erasure below answers 204).
		{name: "no token", route: "DELETE /v1/identities/{id}", path: identity, status: 401, code: "unauthorized"},
		{name: "a session token is not a CRM token", route: "DELETE /v1/identities/{id}", path: identity, header: bearer(bound.SessionToken), status: 401, code: "invalid_token"},
		{name: "identities:read cannot erase", route: "DELETE /v1/identities/{id}", path: identity, header: auth(read), status: 403, code: "insufficient_scope"},
		{name: "unknown identity", route: "DELETE /v1/identities/{id}", path: "/v1/identities/nope", header: auth(write), status: 404, code: "not_found"},
		{name: "no token", route: "GET /v1/identities/{id}/erasure", path: identity + "/erasure", status: 401, code: "unauthorized"},
		{name: "identities:read cannot follow an erasure", route: "GET /v1/identities/{id}/erasure", path: identity + "/erasure", header: auth(read), status: 403, code: "insufficient_scope"},
		{name: "never erased", route: "GET /v1/identities/{id}/erasure", path: identity + "/erasure", header: auth(write), status: 404, code: "not_found"},

		// GET /v1/identities/by-flex/{flex_identity}
		{name: "no token", route: "GET /v1/identities/by-flex/{flex_identity}", path: "/v1/identities/by-flex/" + ada.FlexIdentity, status: 401, code: "unauthorized"},
		{name: "identities:write cannot read", route: "GET /v1/identities/by-flex/{flex_identity}", path: "/v1/identities/by-flex/" + ada.FlexIdentity, header: auth(write), status: 403, code: "insufficient_scope"},
		{name: "unknown pseudonym", route: "GET /v1/identities/by-flex/{flex_identity}", path: "/v1/identities/by-flex/hr_nope", header: auth(read), status: 404, code: "not_found"},

		// GET /v1/connections
		{name: "no token", route: "GET /v1/connections", path: "/v1/connections", status: 401, code: "unauthorized"},
		{name: "expired token", route: "GET /v1/connections", path: "/v1/connections", header: bearer(expired), status: 401, code: "invalid_token"},
		{name: "sessions:write cannot list", route: "GET /v1/connections", path: "/v1/connections", header: auth(sessions), status: 403, code: "insufficient_scope"},

		// POST /v1/connections/{id}/verify: token and scope first, then the body, then the
		// policy, then the connection.
		{name: "no token", route: "POST /v1/connections/{id}/verify", path: verify, status: 401, code: "unauthorized"},
		{name: "identities:read cannot verify", route: "POST /v1/connections/{id}/verify", path: verify, header: auth(read), status: 403, code: "insufficient_scope"},
		{name: "unknown connection", route: "POST /v1/connections/{id}/verify", path: "/v1/connections/nope/verify", header: auth(sessions), status: 404, code: "not_found"},
		{name: "invalid JSON", route: "POST /v1/connections/{id}/verify", path: verify, header: jsonAs(sessions), body: `{"policy":`, status: 400, code: "invalid_json"},
		{name: "unknown field", route: "POST /v1/connections/{id}/verify", path: verify, header: jsonAs(sessions), body: `{"policy":"default","connection":"x"}`, status: 400, code: "invalid_json"},
		{name: "not JSON", route: "POST /v1/connections/{id}/verify", path: verify, header: map[string]string{"Authorization": sessions, "Content-Type": "text/plain"}, body: "policy=default", status: 415, code: "unsupported_media_type"},
		{name: "body too large", route: "POST /v1/connections/{id}/verify", path: verify, header: jsonAs(sessions), body: big, status: 413, code: "payload_too_large"},
		{name: "unknown policy", route: "POST /v1/connections/{id}/verify", path: verify, header: jsonAs(sessions), body: `{"policy":"gold"}`, status: 422, code: "unknown_policy"},
		{name: "first within the CRM client's budget (unknown connection)", route: "POST /v1/connections/{id}/verify", on: limited, path: "/v1/connections/nope/verify", header: auth(limited.crmToken(t, "sessions:write")), status: 404, code: "not_found"},
		{name: "over the CRM client's budget", route: "POST /v1/connections/{id}/verify", on: limited, path: "/v1/connections/nope/verify", header: auth(limited.crmToken(t, "sessions:write")), status: 429, code: "rate_limited"},

		// POST /v1/sessions (other statuses: TestAPIErrors)
		{name: "first within the IP's budget", route: "POST /v1/sessions", on: limited, path: "/v1/sessions", status: 201},
		{name: "over the IP's budget", route: "POST /v1/sessions", on: limited, path: "/v1/sessions", status: 429, code: "rate_limited"},

		// GET /v1/webhooks/dead-letters
		{name: "limit 0", route: "GET /v1/webhooks/dead-letters", path: "/v1/webhooks/dead-letters?limit=0", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "limit not a number", route: "GET /v1/webhooks/dead-letters", path: "/v1/webhooks/dead-letters?limit=ten", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "limit above 200", route: "GET /v1/webhooks/dead-letters", path: "/v1/webhooks/dead-letters?limit=201", header: auth(read), status: 400, code: "invalid_filter"},
		{name: "no token", route: "GET /v1/webhooks/dead-letters", path: "/v1/webhooks/dead-letters", status: 401, code: "unauthorized"},
		{name: "identities:write cannot read", route: "GET /v1/webhooks/dead-letters", path: "/v1/webhooks/dead-letters", header: auth(write), status: 403, code: "insufficient_scope"},

		// GET /v1/sessions/{id} (401: TestAPIErrors)
		{name: "CRM token without sessions:write", route: "GET /v1/sessions/{id}", path: "/v1/sessions/" + bound.ID, header: auth(read), status: 403, code: "insufficient_scope"},
		{name: "CRM reads an unknown session", route: "GET /v1/sessions/{id}", path: "/v1/sessions/" + unknownSession, header: auth(sessions), status: 404, code: "not_found"},
		// GET /v1/sessions/{id}/events (401: TestAPIErrors)
		{name: "valid token, session gone", route: "GET /v1/sessions/{id}/events", path: "/v1/sessions/" + unknownSession + "/events", header: bearer(sessionTokenFor(t, s, unknownSession)), status: 404, code: "not_found"},
		{name: "wrong token in the query", route: "GET /v1/sessions/{id}/events", path: "/v1/sessions/" + bound.ID + "/events?token=" + other.SessionToken, status: 401, code: "invalid_token"},
		// GET /v1/sessions/{id}/qr.svg (qr.png: TestAPIErrors)
		{name: "unknown session", route: "GET /v1/sessions/{id}/qr.svg", path: "/v1/sessions/nope/qr.svg", status: 404, code: "not_found"},
		// GET /assets/{file}
		{name: "unknown asset", route: "GET /assets/{file}", path: "/assets/nope.js", status: 404, code: "not_found"},

		// POST /v1/sessions/{id}/chat-token (410: after the erasure below)
		{name: "no token", route: "POST /v1/sessions/{id}/chat-token", path: chatToken(bound.ID), status: 401, code: "unauthorized"},
		{name: "another session's token", route: "POST /v1/sessions/{id}/chat-token", path: chatToken(bound.ID), header: bearer(other.SessionToken), status: 401, code: "invalid_token"},
		{name: "a CRM token: the chat token is the customer's alone", route: "POST /v1/sessions/{id}/chat-token", path: chatToken(bound.ID), header: auth(sessions), status: 401, code: "invalid_token"},
		{name: "valid token, session gone", route: "POST /v1/sessions/{id}/chat-token", path: chatToken(unknownSession), header: bearer(sessionTokenFor(t, s, unknownSession)), status: 404, code: "not_found"},
		{name: "not bound yet", route: "POST /v1/sessions/{id}/chat-token", path: chatToken(invited.ID), header: bearer(invited.SessionToken), status: 409, code: "no_chat"},

		// GET /v1/agent/chats/{chat_sid}/verification (200, CORS, 503: TestAgentChatVerification)
		{name: "Flex channel, agent's token", route: "GET /v1/agent/chats/{chat_sid}/verification", path: agentChat(st.Chat.ConversationSID), header: bearer(s.emulator.AgentToken(time.Now().Add(time.Hour))), status: 200},
		{name: "no token", route: "GET /v1/agent/chats/{chat_sid}/verification", path: agentChat(st.Chat.ConversationSID), status: 401, code: "unauthorized"},
		{name: "expired Flex token", route: "GET /v1/agent/chats/{chat_sid}/verification", path: agentChat(st.Chat.ConversationSID), header: bearer(s.emulator.AgentToken(time.Now().Add(-time.Minute))), status: 401, code: "flex_token_invalid"},
		{name: "a CRM token is not a Flex token", route: "GET /v1/agent/chats/{chat_sid}/verification", path: agentChat(st.Chat.ConversationSID), header: auth(read), status: 401, code: "flex_token_invalid"},
		{name: "unknown chat", route: "GET /v1/agent/chats/{chat_sid}/verification", path: agentChat("CH" + strings.Repeat("0", 32)), header: bearer(s.emulator.AgentToken(time.Now().Add(time.Hour))), status: 404, code: "not_found"},
		{name: "chat not bound yet (no chat)", route: "GET /v1/agent/chats/{chat_sid}/verification", path: agentChat(invited.ID), header: bearer(s.emulator.AgentToken(time.Now().Add(time.Hour))), status: 404, code: "not_found"},

		// POST /oauth/token (401 and the other 400s: TestCRMAuth)
		{name: "not a form", route: "POST /oauth/token", path: "/oauth/token", header: map[string]string{"Content-Type": "application/json"}, body: `{"grant_type":"client_credentials"}`, status: 400, code: "invalid_request"},
		{name: "body too large", route: "POST /oauth/token", path: "/oauth/token", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "grant_type=client_credentials&scope=" + strings.Repeat("a", 70<<10), status: 413, code: "payload_too_large"},

		// POST /v1/twilio/chat (Flex Flow's Programmable Chat webhooks); 204 below
		{name: "unsigned", route: "POST /v1/twilio/chat", path: "/v1/twilio/chat", header: unsignedHeader, body: channel.Encode(), status: 403, code: "webhook_rejected"},
		{name: "signed with another Auth Token", route: "POST /v1/twilio/chat", path: "/v1/twilio/chat", header: forgedHeader, body: forgedBody, status: 403, code: "webhook_rejected"},
		{name: "signed for the conversations URL", route: "POST /v1/twilio/chat", path: "/v1/twilio/chat", header: misaddressedHeader, body: misaddressedBody, status: 403, code: "webhook_rejected"},
		{name: "signed, but no ChannelSid", route: "POST /v1/twilio/chat", path: "/v1/twilio/chat", header: badChatHeader, body: badChatBody, status: 400, code: "invalid_webhook"},
		{name: "body too large", route: "POST /v1/twilio/chat", path: "/v1/twilio/chat", header: unsignedHeader, body: bigForm, status: 413, code: "payload_too_large"},
		{name: "webhooks off without an Auth Token", route: "POST /v1/twilio/chat", on: noWebhooks, path: "/v1/twilio/chat", header: unsignedHeader, body: channel.Encode(), status: 404, code: "not_found"},
		// POST /v1/twilio/conversations (403: TestTwilioWebhooks)
		{name: "signed, but no ConversationSid", route: "POST /v1/twilio/conversations", path: "/v1/twilio/conversations", header: badConvHeader, body: badConvBody, status: 400, code: "invalid_webhook"},
		{name: "body too large", route: "POST /v1/twilio/conversations", path: "/v1/twilio/conversations", header: unsignedHeader, body: bigForm, status: 413, code: "payload_too_large"},
		{name: "webhooks off without an Auth Token", route: "POST /v1/twilio/conversations", on: noWebhooks, path: "/v1/twilio/conversations", header: unsignedHeader, body: noConversation.Encode(), status: 404, code: "not_found"},
	}
	runCases := func(cases []routeCase) {
		for _, tc := range cases {
			t.Run(tc.route+"/"+strconv.Itoa(tc.status)+"/"+tc.name, func(t *testing.T) { tc.run(t, s) })
		}
	}
	runCases(cases)

	// The customer is erased: their chat gets no new token, though the session is still bound.
	if resp, body := do(t, "DELETE", s.url+identity, auth(write), ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("erasure: %d %s", resp.StatusCode, body)
	}
	erased := []routeCase{
		{name: "identity erased", route: "POST /v1/sessions/{id}/chat-token", path: chatToken(bound.ID), header: bearer(bound.SessionToken), status: 410, code: "identity_erased"},
	}
	runCases(erased)
	cases = append(cases, erased...)

	// The agent closes B's Flex Flow channel: Twilio's signed webhook closes the session (which
	// the refused webhooks above did not).
	if got := s.session(t, closing); got.Status != "bound" {
		t.Fatalf("before the webhook, B's session is %s", got.Status)
	}
	closeHeader, closeBody := signed("/v1/twilio/chat", channel)
	closed := []routeCase{
		{name: "signed channel update", route: "POST /v1/twilio/chat", path: "/v1/twilio/chat", header: closeHeader, body: closeBody, status: 204},
		{name: "the same delivery again", route: "POST /v1/twilio/chat", path: "/v1/twilio/chat", header: closeHeader, body: closeBody, status: 200},
	}
	runCases(closed[:1])
	s.waitStatus(t, closing, "closed")
	runCases(closed[1:])
	closed = append(closed, routeCase{name: "chat closed", route: "POST /v1/sessions/{id}/chat-token", path: chatToken(closing.ID), header: bearer(closing.SessionToken), status: 409, code: "no_chat"})
	runCases(closed[2:])
	cases = append(cases, closed...)

	t.Run("every documented error status is provoked", func(t *testing.T) {
		checkRouteCoverage(t, cases)
	})
}

func randomSeed(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// checkRouteCoverage compares the cases with api/openapi.yaml: every case's status is
// documented for its route, and every documented provokable status has a case, a test
// elsewhere or a reason.
func checkRouteCoverage(t *testing.T, cases []routeCase) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for status := range op.Responses.Map() {
				documented[method+" "+path+" "+status] = true
			}
		}
	}
	provoked := map[string]bool{}
	for _, tc := range cases {
		key := tc.route + " " + strconv.Itoa(tc.status)
		provoked[key] = true
		if !documented[key] {
			t.Errorf("%s (%s): status not documented in openapi.yaml", key, tc.name)
		}
	}
	var missing []string
	for key := range documented {
		fields := strings.Fields(key)
		status, _ := strconv.Atoi(fields[2])
		if !slices.Contains(provokableStatuses, status) || provoked[key] {
			continue
		}
		if _, ok := statusesTestedElsewhere[key]; ok {
			continue
		}
		if _, ok := statusesNotProvokedHere[key]; ok {
			continue
		}
		missing = append(missing, key)
	}
	slices.Sort(missing)
	for _, key := range missing {
		t.Errorf("openapi.yaml lists %s, but no test provokes it", key)
	}
	for key := range statusesTestedElsewhere {
		if !documented[key] {
			t.Errorf("statusesTestedElsewhere names %s, which openapi.yaml does not list", key)
		}
	}
	for key := range statusesNotProvokedHere {
		if !documented[key] {
			t.Errorf("statusesNotProvokedHere names %s, which openapi.yaml does not list", key)
		}
	}
}

// runTokenCmd runs `hearro token` in-process with args.
func runTokenCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCmd(newTokenCmd(), args...)
}

// runCmd runs a command in-process with args, as the binary would.
func runCmd(cmd *cobra.Command, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// TestTokenCommand: `hearro token` mints, offline, a token the service accepts. It reads the
// signing key from its own file in the data dir (not from the bbolt store, whose lock the
// running service holds), so it works whether the service runs or not.
func TestTokenCommand(t *testing.T) {
	s := startTestService(t)
	dir := s.cfg.DataDir
	mint := func(t *testing.T, args ...string) (string, time.Time) {
		t.Helper()
		before := time.Now()
		out, stderr, err := runTokenCmd(t, append([]string{"--data-dir", dir, "--redis-url", "", "--oauth-audience", api.DefaultAudience}, args...)...)
		if err != nil {
			t.Fatalf("hearro token: %v\n%s", err, stderr)
		}
		if stderr != "" {
			t.Errorf("stderr: %s", stderr) // e.g. "created a new signing key": the service's key was not found
		}
		tok := strings.TrimSpace(out)
		if strings.Count(out, "\n") != 1 || strings.Count(tok, ".") != 2 {
			t.Fatalf("want one JWT on one line, got %q", out)
		}
		return tok, before
	}
	checkClaims := func(t *testing.T, tok string, before time.Time, iss string) {
		t.Helper()
		parsed, err := jwt.ParseInsecure([]byte(tok))
		if err != nil {
			t.Fatal(err)
		}
		want := before.Add(5 * time.Minute)
		if exp := parsed.Expiration(); exp.Before(want.Add(-time.Second)) || exp.After(time.Now().Add(5*time.Minute)) {
			t.Errorf("exp %s, want about %s (5m from minting)", exp, want)
		}
		if scope, _ := parsed.Get("scope"); scope != "identities:read" || parsed.Issuer() != iss || parsed.Subject() != "operator" ||
			!slices.Equal(parsed.Audience(), []string{api.DefaultAudience}) {
			t.Errorf("claims: scope %v iss %s sub %s aud %v", scope, parsed.Issuer(), parsed.Subject(), parsed.Audience())
		}
	}
	expect := func(t *testing.T, method, url, tok string, status int, code string) {
		t.Helper()
		resp, body := do(t, method, url, map[string]string{"Authorization": "Bearer " + tok}, "")
		if resp.StatusCode != status || (code != "" && !bytes.Contains(body, []byte(`"code":"`+code+`"`))) {
			t.Fatalf("%s %s: %d %s, want %d %s", method, url, resp.StatusCode, body, status, code)
		}
	}

	var whileRunning string
	t.Run("while the service runs", func(t *testing.T) {
		tok, before := mint(t, "--public-url", s.url, "--scope", "identities:read", "--ttl", "5m")
		checkClaims(t, tok, before, s.url)
		expect(t, "GET", s.url+"/v1/identities", tok, 200, "")
		expect(t, "GET", s.url+"/v1/connections", tok, 200, "")
		expect(t, "DELETE", s.url+"/v1/identities/nope", tok, 403, "insufficient_scope")
		expect(t, "POST", s.url+"/v1/connections/nope/verify", tok, 403, "insufficient_scope")
		whileRunning = tok
	})
	t.Run("for another public URL, refused", func(t *testing.T) {
		tok, _ := mint(t, "--public-url", "http://localhost:1", "--scope", "identities:read")
		expect(t, "GET", s.url+"/v1/identities", tok, 401, "invalid_token")
	})
	t.Run("unknown scope", func(t *testing.T) {
		out, _, err := runTokenCmd(t, "--data-dir", dir, "--redis-url", "", "--public-url", s.url, "--scope", "identities:read,identities:admin")
		if err == nil || !strings.Contains(err.Error(), `unknown scope "identities:admin"`) || !strings.Contains(err.Error(), strings.Join(api.KnownScopes, ", ")) {
			t.Fatalf("error %v, want it to name the unknown scope and the known ones", err)
		}
		if out != "" {
			t.Fatalf("printed %q", out)
		}
	})
	t.Run("no scope", func(t *testing.T) {
		if _, _, err := runTokenCmd(t, "--data-dir", dir, "--redis-url", "", "--public-url", s.url); err == nil || !strings.Contains(err.Error(), "--scope is required") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("while the service is stopped, then after its restart", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		tok, before := mint(t, "--public-url", s.url, "--scope", "identities:read", "--ttl", "5m")
		checkClaims(t, tok, before, s.url)
		// The same data dir and public URL (a new port: the API does not look at the Host).
		again := startTestServiceWith(t, func(c *serveConfig) { c.DataDir, c.PublicURL = dir, s.url })
		base := "http://" + again.listener.Addr().String()
		expect(t, "GET", base+"/v1/identities", tok, 200, "")
		expect(t, "GET", base+"/v1/identities", whileRunning, 200, "")
		expect(t, "DELETE", base+"/v1/identities/nope", tok, 403, "insufficient_scope")
	})
	t.Run("from Redis", func(t *testing.T) {
		srv := redistest.Server(t)
		const master = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		r := startTestServiceWith(t, func(c *serveConfig) { c.RedisURL, c.MasterKey = srv.URL(), master })
		out, stderr, err := runTokenCmd(t, "--redis-url", srv.URL(), "--master-key", master, "--public-url", r.url, "--scope", "identities:read", "--ttl", "5m")
		if err != nil || stderr != "" {
			t.Fatalf("hearro token: %v %s", err, stderr)
		}
		tok := strings.TrimSpace(out)
		expect(t, "GET", r.url+"/v1/identities", tok, 200, "")
		expect(t, "DELETE", r.url+"/v1/identities/nope", tok, 403, "insufficient_scope")

		// The signing key is sealed under the master key: without it, or with another one,
		// there is no token, and the stored key is left as it is.
		for name, args := range map[string][]string{
			"without --master-key": nil,
			"another --master-key": {"--master-key", "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="},
		} {
			out, _, err := runTokenCmd(t, append([]string{"--redis-url", srv.URL(), "--public-url", r.url, "--scope", "identities:read"}, args...)...)
			if err == nil || !strings.Contains(err.Error(), "--master-key") || out != "" {
				t.Errorf("%s: %q, %v; want an error naming --master-key", name, out, err)
			}
		}
		out, _, err = runTokenCmd(t, "--redis-url", srv.URL(), "--master-key", master, "--public-url", r.url, "--scope", "identities:read")
		if err != nil {
			t.Fatal(err)
		}
		expect(t, "GET", r.url+"/v1/identities", strings.TrimSpace(out), 200, "")

		// A replica started with another master key on the same Redis refuses to start, naming
		// the flag.
		cfg := r.cfg
		cfg.MasterKey, cfg.DataDir = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=", t.TempDir()
		set, err := cfg.parse()
		if err != nil {
			t.Fatal(err)
		}
		if b, err := openBackend(t.Context(), set, slog.New(slog.DiscardHandler)); err == nil {
			b.close()
			t.Error("a replica with another master key started")
		} else if !strings.Contains(err.Error(), "--master-key does not open") {
			t.Errorf("a replica with another master key: %v", err)
		}
	})
}
