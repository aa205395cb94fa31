package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// boundSession runs a customer through to a bound session and returns it with its token.
func (s *testService) boundSession(t *testing.T) (createdSession, sessionState, walletSummary) {
	t.Helper()
	c := s.createSession(t)
	sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
		w.Claims = "givenName=Ada,familyName=Lovelace,memberId=M-31415"
	})
	if err != nil {
		t.Fatalf("wallet: %v\n%s", err, progress)
	}
	return c, s.waitStatus(t, c, "bound"), sum
}

// createdChats counts the chats the emulator opened (successful create calls of either mode).
func createdChats(emu *emulator.Emulator) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Operation == "CreateWebChannel" || r.Operation == "CreateChannel" {
			n++
		}
	}
	return n
}

// TestFlexModes runs a session to a bound chat in each kind of Flex, refreshes the customer's
// token, and scans everything sent to "Twilio" for what must never reach it.
func TestFlexModes(t *testing.T) {
	for _, mode := range []string{"conversations", "flexflow"} {
		t.Run(mode, func(t *testing.T) {
			s := startTestServiceWith(t, func(c *serveConfig) { c.FlexMode = mode })
			c, st, sum := s.boundSession(t)
			if mode == "flexflow" && (st.Chat == nil || !strings.HasPrefix(st.Chat.ConversationSID, "CH")) {
				t.Fatalf("flex flow chat: %+v", st.Chat)
			}
			resp, body := do(t, "POST", s.url+"/v1/sessions/"+c.ID+"/chat-token", map[string]string{"Authorization": "Bearer " + c.SessionToken}, "")
			var chat struct {
				Token, Identity, ConversationSID string
			}
			json.Unmarshal(body, &chat)
			if resp.StatusCode != 200 || chat.Token == "" || chat.Identity != st.Chat.Identity {
				t.Fatalf("chat token: %d %s", resp.StatusCode, body)
			}
			assertNothingLeaked(t, s.emulator, sum.HolderDID, "M-31415", "memberId", "proofValue", "VerifiableCredential",
				emulator.DevConfig().AuthToken, c.SessionToken)
		})
	}
}

// TestTwilioFailures: a burst of 429s still gives exactly one chat; a lasting outage leaves the
// session verified with a code, and once Twilio is back the session binds.
func TestTwilioFailures(t *testing.T) {
	s := startTestServiceWith(t, func(c *serveConfig) {
		c.TwilioRetryTotal, c.ChatRetryFor = time.Second, time.Second
	})

	t.Run("429 burst then success: exactly one chat", func(t *testing.T) {
		before := createdChats(s.emulator)
		s.emulator.InjectFault(emulator.Fault{Op: "CreateWebChannel", Status: 429, RetryAfter: time.Second, Times: 2})
		_, st, _ := s.boundSession(t)
		if st.Chat == nil {
			t.Fatal("no chat")
		}
		// Three create calls reached the emulator (two refused); one chat exists.
		var sids []string
		for _, r := range s.emulator.Requests()[before:] {
			if r.Operation == "CreateWebChannel" {
				sids = append(sids, r.Path)
			}
		}
		list := listConversations(t, s)
		n := 0
		for _, c := range list {
			if strings.Contains(c.FriendlyName, st.ID) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d conversations for the session, want 1 (create calls: %d)", n, len(sids))
		}
	})

	t.Run("lasting 500: verified with a code, then bound once Twilio is back", func(t *testing.T) {
		s.emulator.InjectFault(emulator.Fault{Op: "*", Service: "flex-api", Status: 500})
		c := s.createSession(t)
		if _, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, nil); err != nil {
			t.Fatalf("wallet: %v\n%s", err, progress)
		}
		var st sessionState
		var chatError string
		deadline := time.Now().Add(15 * time.Second)
		for chatError == "" && time.Now().Before(deadline) {
			var raw map[string]any
			getJSON(t, s.url+"/v1/sessions/"+c.ID, "Bearer "+c.SessionToken, &raw)
			chatError, _ = raw["chat_error"].(string)
			st.Status, _ = raw["status"].(string)
			time.Sleep(50 * time.Millisecond)
		}
		if st.Status != "verified" || chatError != "twilio_unavailable" {
			t.Fatalf("during the outage: status %s chat_error %q", st.Status, chatError)
		}
		time.Sleep(1500 * time.Millisecond) // the background attempts give up
		if got := s.session(t, c); got.Status != "verified" || got.Chat != nil {
			t.Fatalf("a session without a chat is %s", got.Status)
		}
		s.emulator.ClearFaults()
		// The customer's browser keeps reading the session: that starts a new attempt.
		bound := s.waitStatus(t, c, "bound")
		if bound.Chat == nil || bound.Chat.Token == "" {
			t.Fatalf("after Twilio came back: %+v", bound)
		}
	})
}

type conversationSummary struct {
	Sid          string `json:"sid"`
	FriendlyName string `json:"friendly_name"`
	State        string `json:"state"`
}

func listConversations(t *testing.T, s *testService) []conversationSummary {
	t.Helper()
	dev := emulator.DevConfig()
	req, _ := http.NewRequest("GET", s.url+"/_twilio/conversations/v1/Conversations?PageSize=1000", nil)
	req.SetBasicAuth(dev.AccountSID, dev.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Conversations []conversationSummary `json:"conversations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	return page.Conversations
}

// TestTwilioWebhooks: the agent closing the chat reaches the service as a signed webhook and
// closes the session; forged, misaddressed and unsigned webhooks are refused.
func TestTwilioWebhooks(t *testing.T) {
	s := startTestService(t)
	c, st, _ := s.boundSession(t)
	hook := s.url + "/v1/twilio/conversations"
	dev := emulator.DevConfig()
	params := url.Values{"EventType": {"onConversationStateUpdated"}, "ConversationSid": {st.Chat.ConversationSID},
		"StateFrom": {"active"}, "StateTo": {"closed"}, "AccountSid": {dev.AccountSID}}
	post := func(t *testing.T, signFor string, sign bool, body url.Values) int {
		t.Helper()
		h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		if sign {
			h["X-Twilio-Signature"] = flex.SignWebhook(dev.AuthToken, signFor, body)
		}
		resp, _ := do(t, "POST", hook, h, body.Encode())
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name    string
		signFor string
		sign    bool
		token   string
		want    int
	}{
		{"403/missing signature", hook, false, dev.AuthToken, 403},
		{"403/signed for another URL", s.url + "/v1/twilio/other", true, dev.AuthToken, 403},
		{"403/signed with another token", hook, true, "someOtherAuthToken00000000000000", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
			if tc.sign {
				h["X-Twilio-Signature"] = flex.SignWebhook(tc.token, tc.signFor, params)
			}
			resp, body := do(t, "POST", hook, h, params.Encode())
			if resp.StatusCode != tc.want || !strings.Contains(string(body), "webhook_rejected") {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if got := s.session(t, c); got.Status != "bound" {
				t.Fatalf("a refused webhook changed the session to %s", got.Status)
			}
		})
	}
	t.Run("the agent closes the chat", func(t *testing.T) {
		if err := s.emulator.CloseChat(st.Chat.ConversationSID); err != nil {
			t.Fatal(err)
		}
		s.waitStatus(t, c, "closed")
		resp, body := do(t, "POST", s.url+"/v1/sessions/"+c.ID+"/chat-token", map[string]string{"Authorization": "Bearer " + c.SessionToken}, "")
		if resp.StatusCode != 409 || !strings.Contains(string(body), "no_chat") {
			t.Fatalf("token for a closed chat: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("a captured webhook replayed with a new idempotency token is acknowledged, not processed", func(t *testing.T) {
		// The emulator's own delivery of the close, signed as Twilio signs it, as an attacker
		// on the path captured it; resent with only the unsigned I-Twilio-Idempotency-Token
		// changed. It is the same delivery: 200, and nothing happens again.
		var captured *emulator.WebhookDelivery
		waitFor(t, "the emulator's signed close webhook", func() bool {
			for _, w := range s.emulator.Webhooks() {
				if w.Form.Get("ConversationSid") == st.Chat.ConversationSID && w.Form.Get("StateTo") == "closed" && w.Status == 204 {
					captured = &w
					return true
				}
			}
			return false
		})
		for _, token := range []string{"IDattacker00000000000000000000001", ""} {
			resp, body := do(t, "POST", captured.SentTo, map[string]string{"Content-Type": "application/x-www-form-urlencoded",
				"X-Twilio-Signature": captured.Signature, flex.IdempotencyTokenHeader: token}, captured.Form.Encode())
			if resp.StatusCode != 200 || len(body) != 0 {
				t.Fatalf("replay with idempotency token %q: %d %s, want 200", token, resp.StatusCode, body)
			}
		}
	})
	t.Run("a duplicate webhook is acknowledged with 200", func(t *testing.T) {
		if code := post(t, hook, true, params); code != 204 {
			t.Fatalf("first delivery: %d", code)
		}
		if code := post(t, hook, true, params); code != 200 {
			t.Fatalf("duplicate: %d, want 200", code)
		}
	})
}

// TestChatTimersCloseTheSession: the chat is opened with the conversation timers of
// --chat-inactive-after/--chat-close-after (defaults 30m/24h); when the emulator's clock passes
// the close timer, Twilio's closed-conversation webhook closes the session.
func TestChatTimersCloseTheSession(t *testing.T) {
	s := startTestService(t)
	c, st, _ := s.boundSession(t)
	s.emulator.Advance(31 * time.Minute)
	if got := s.session(t, c); got.Status != "bound" {
		t.Fatalf("inactive chat: session %s, want still bound", got.Status)
	}
	s.emulator.Advance(24 * time.Hour)
	s.waitStatus(t, c, "closed")
	for _, conv := range listConversations(t, s) {
		if conv.Sid == st.Chat.ConversationSID && conv.State != "closed" {
			t.Fatalf("conversation %s", conv.State)
		}
	}
}
