package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// erasureStatus is GET /v1/identities/{id}/erasure as the CRM reads it.
type erasureStatus struct {
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error"`
	RequestedAt time.Time  `json:"requested_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

func (s *testService) erasure(t *testing.T, id string) (int, erasureStatus, []byte) {
	t.Helper()
	resp, body := do(t, "GET", s.url+"/v1/identities/"+id+"/erasure", map[string]string{"Authorization": s.crmToken(t, "identities:write")}, "")
	var st erasureStatus
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("erasure status %s: %v", body, err)
		}
	}
	return resp.StatusCode, st, body
}

// waitErasure polls the identity's erasure status until ok accepts it.
func (s *testService) waitErasure(t *testing.T, id, what string, ok func(erasureStatus) bool) erasureStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, st, body := s.erasure(t, id)
		if code == http.StatusOK && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("erasure status never %s: last %d %s", what, code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// twilioGet reads a Twilio resource from the built-in emulator, as the account.
func (s *testService) twilioGet(t *testing.T, path string) (int, []byte) {
	t.Helper()
	dev := emulator.DevConfig()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/_twilio/"+path, nil)
	req.SetBasicAuth(dev.AccountSID, dev.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

// twilioScan returns, as text, every conversation the emulator has with its participants,
// every task and the Conversations user identity.
func (s *testService) twilioScan(t *testing.T, identity string) string {
	t.Helper()
	var out strings.Builder
	code, body := s.twilioGet(t, "conversations/v1/Conversations?PageSize=100")
	if code != http.StatusOK {
		t.Fatalf("list conversations: %d %s", code, body)
	}
	out.Write(body)
	var list struct {
		Conversations []struct {
			Sid string `json:"sid"`
		} `json:"conversations"`
	}
	_ = json.Unmarshal(body, &list)
	for _, c := range list.Conversations {
		_, body := s.twilioGet(t, "conversations/v1/Conversations/"+c.Sid+"/Participants?PageSize=100")
		out.Write(body)
	}
	_, body = s.twilioGet(t, "taskrouter/v1/Workspaces/"+emulator.DevConfig().WorkspaceSID+"/Tasks?PageSize=1000")
	out.Write(body)
	_, body = s.twilioGet(t, "conversations/v1/Users/"+identity)
	out.Write(body)
	return out.String()
}

// verifiedChat verifies a new customer with distinctive display claims, and has them write
// their first message (which makes the agent's task). It returns the identity and the chat.
func (s *testService) verifiedChat(t *testing.T) (identityJSON, string) {
	t.Helper()
	c := s.createSession(t)
	if _, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
		w.Claims = "givenName=Zebulon,familyName=Quixotic,memberId=90710"
	}); err != nil {
		t.Fatalf("wallet: %v\n%s", err, progress)
	}
	st := s.waitStatus(t, c, "bound")
	s.customerWrites(t, st.Chat.ConversationSID, st.Chat.Token, "Hello")
	if len(s.tasksOf(t, st.Chat.ConversationSID)) != 1 {
		t.Fatal("no task after the customer's first message")
	}
	var ident identityJSON
	if code := getJSON(t, s.url+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), &ident); code != 200 {
		t.Fatalf("GET identity: %d", code)
	}
	return ident, st.Chat.ConversationSID
}

func (s *testService) erase(t *testing.T, id string) {
	t.Helper()
	if resp, body := do(t, "DELETE", s.url+"/v1/identities/"+id, map[string]string{"Authorization": s.crmToken(t, "identities:write")}, ""); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
}

// displayed are what the agent was shown of the customer verifiedChat makes.
var displayed = []string{"Zebulon", "Quixotic"}

// TestErasureReachesTwilio erases a customer whose chat has a task and follows the erasure's
// status until done: then no conversation, participant, task or user at the emulator still
// holds a display claim or the display name (there were some before), the conversation still
// exists with Flex's own attributes, and no webhook endpoint was needed.
func TestErasureReachesTwilio(t *testing.T) {
	s := startTestService(t)
	ident, sid := s.verifiedChat(t)
	before := s.twilioScan(t, ident.FlexIdentity)
	for _, v := range displayed {
		if !strings.Contains(before, v) {
			t.Fatalf("before the erasure %q is nowhere at Twilio: the scan is blind", v)
		}
	}
	if code, _, body := s.erasure(t, ident.ID); code != http.StatusNotFound || !strings.Contains(string(body), `"not_found"`) {
		t.Errorf("erasure status before any erasure: %d %s, want 404 not_found", code, body)
	}
	s.erase(t, ident.ID)
	st := s.waitErasure(t, ident.ID, "done", func(st erasureStatus) bool { return st.Status == "done" })
	if st.Attempts != 1 || st.LastError != "" || st.RequestedAt.IsZero() || st.CompletedAt == nil || st.CompletedAt.Before(st.RequestedAt) {
		t.Errorf("erasure status %+v", st)
	}
	after := s.twilioScan(t, ident.FlexIdentity)
	for _, v := range append(displayed, "pre_engagement_data", `\"verification\"`) {
		if strings.Contains(after, v) {
			t.Errorf("after the erasure %q remains at Twilio:\n%s", v, after)
		}
	}
	if code, body := s.twilioGet(t, "conversations/v1/Conversations/"+sid); code != http.StatusOK || !strings.Contains(string(body), ident.FlexIdentity) {
		t.Errorf("the conversation: %d %s; want it kept, from the pseudonym", code, body)
	}
	if !strings.Contains(after, `"friendly_name":"`+ident.FlexIdentity+`"`) {
		t.Errorf("the user's friendly name is not the pseudonym:\n%s", after)
	}
}

// TestErasureStatusRoute checks the route's authorisation: the scope of DELETE.
func TestErasureStatusRoute(t *testing.T) {
	s := startTestService(t)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"401/no token", "", http.StatusUnauthorized},
		{"403/read scope", s.crmToken(t, "identities:read"), http.StatusForbidden},
		{"404/never erased", s.crmToken(t, "identities:write"), http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.auth != "" {
				h["Authorization"] = tc.auth
			}
			resp, body := do(t, "GET", s.url+"/v1/identities/01JZ0000000000000000000000/erasure", h, "")
			if resp.StatusCode != tc.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%d %s %s, want %d problem+json", resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.want)
			}
		})
	}
}

// TestErasureDeletesConversationsWhenThePolicySays runs the development policy from a policy
// file with delete_conversations_on_erasure: the erased customer's conversation is gone.
func TestErasureDeletesConversationsWhenThePolicySays(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policies.yaml")
	yaml := fmt.Sprintf(`policies:
  - name: default
    purpose: Prove you are a verified customer.
    assurance: development
    credentials:
      - type: VerifiedCustomer
        issuers: [%q, %q]
    required_claims: [givenName, familyName, memberId]
    display_claims: [givenName, familyName]
    delete_conversations_on_erasure: true
`, issuer.DevelopmentDID(), issuer.DevelopmentBBSDID())
	if err := os.WriteFile(policy, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startTestServiceWith(t, func(c *serveConfig) { c.PolicyFile = policy })
	ident, sid := s.verifiedChat(t)
	s.erase(t, ident.ID)
	s.waitErasure(t, ident.ID, "done", func(st erasureStatus) bool { return st.Status == "done" })
	if code, body := s.twilioGet(t, "conversations/v1/Conversations/"+sid); code != http.StatusNotFound {
		t.Errorf("the conversation after the erasure: %d %s, want 404", code, body)
	}
	if after := s.twilioScan(t, ident.FlexIdentity); strings.Contains(after, "Quixotic") {
		t.Errorf("the display name remains at Twilio:\n%s", after)
	}
}

// TestErasureOutlivesATwilioOutage erases while Twilio hangs on every conversation update
// (and then answers 503): the status shows the attempts and why the last failed (no
// credential), and once Twilio is back the erasure completes by itself. (A hang, not a quick
// 503: the calls that time out do not open the client's circuit breaker, which would hold the
// test up for its 30 seconds.)
func TestErasureOutlivesATwilioOutage(t *testing.T) {
	s := startTestServiceWith(t, func(c *serveConfig) { c.TwilioRetryTotal = time.Second })
	ident, _ := s.verifiedChat(t)
	s.emulator.InjectFault(emulator.Fault{Op: "UpdateConversation", Status: http.StatusServiceUnavailable, Delay: 3 * time.Second})
	s.erase(t, ident.ID)
	st := s.waitErasure(t, ident.ID, "failing", func(st erasureStatus) bool { return st.Attempts >= 1 })
	dev := emulator.DevConfig()
	if st.Status != "pending" || !strings.Contains(st.LastError, "update conversation") || st.CompletedAt != nil ||
		strings.Contains(st.LastError, dev.AuthToken) || strings.Contains(st.LastError, dev.APIKeySecret) {
		t.Errorf("erasure status during the outage: %+v", st)
	}
	s.emulator.ClearFaults()
	st = s.waitErasure(t, ident.ID, "done", func(st erasureStatus) bool { return st.Status == "done" })
	if st.Attempts < 2 || st.LastError != "" || st.CompletedAt == nil {
		t.Errorf("erasure status after the outage: %+v", st)
	}
	if after := s.twilioScan(t, ident.FlexIdentity); strings.Contains(after, "Quixotic") {
		t.Errorf("the display name remains at Twilio:\n%s", after)
	}
}
