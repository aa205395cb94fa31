package emulator_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	conversations "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/hearro/trustbroker/flex/emulator"
)

func getAgentView(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + emulator.AgentPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("agent view: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return string(b)
}

// agentPost posts an agent view form, without following the redirect.
func agentPost(t *testing.T, srv *httptest.Server, action string, form url.Values, headers map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+emulator.AgentPath+"/"+action, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	c := *srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestAgentView(t *testing.T) {
	emu, srv := startWith(t, shippedFlowConfig(t), nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	if page := getAgentView(t, srv); !strings.Contains(page, "No chats yet") {
		t.Error("empty agent view does not say so")
	}

	const summary = `{"verified":true,"issuer":"did:web:bank.example","credential_type":"VerifiedCustomer","assurance":"high",` +
		`"verified_at":"2025-01-02T03:04:05Z","claims":{"givenName":"Ada","note":"<script>alert(1)</script>"},` +
		`"holder_did":"did:key:zHOLDERSHOULDNEVERSHOW"}`
	sid := *createChat(t, rc, "hr_ada", "Ada Lovelace", "Verified chat", summary).ConversationSid
	if _, err := rc.ConversationsV1.UpdateConversation(sid, (&conversations.UpdateConversationParams{}).
		SetAttributes(`{"from":"Ada Lovelace","verification":`+summary+`,"secret_attribute":"NOTFORAGENTS"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ConversationsV1.CreateConversationMessage(sid, (&conversations.CreateConversationMessageParams{}).SetAuthor("hr_ada").SetBody("Hi, my card is blocked")); err != nil {
		t.Fatal(err)
	}
	legacy := deref(createChannel(t, rc.FlexV1, "hr_lee", "Lee", "", `{"verified":true,"issuer":"did:web:other.example","claims":{}}`).Sid)
	unverified := *createChat(t, rc, "hr_anon", "Anonymous", "", "").ConversationSid
	customerSays(t, srv, unverified, "hr_anon", "hello?")
	waiting := *createChat(t, rc, "hr_quiet", "Quiet Customer", "", `{"friendlyName":"Quiet Customer","verified":true}`).ConversationSid

	page := getAgentView(t, srv)
	if !strings.Contains(page, "runs the Studio flow “HearRo verified web chat”") {
		t.Error("the agent view does not say which Studio flow the web chat address runs")
	}
	if i := strings.Index(page, `id="`+waiting+`"`); i < 0 || !strings.Contains(page[i:], "waiting for the customer's first message") {
		t.Error("a chat without a task does not say it waits for the customer's first message")
	}
	for _, want := range []string{
		`<html lang="en">`, "<title>", "<h1>Agent view</h1>",
		"Ada Lovelace", "Verified customer", "did:web:bank.example", "VerifiedCustomer", "high", "2025-01-02T03:04:05Z",
		"<dt>givenName</dt><dd>Ada</dd>", "&lt;script&gt;alert(1)&lt;/script&gt;", "Hi, my card is blocked",
		legacy, "did:web:other.example", "No claims are shown", unverified, "Not verified",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("agent view lacks %q", want)
		}
	}
	for _, never := range []string{"did:key:zHOLDERSHOULDNEVERSHOW", "NOTFORAGENTS", "<script>", "hr_ada"} {
		if strings.Contains(page, never) {
			t.Errorf("agent view shows %q", never)
		}
	}
	// Accessible and self-contained: every reply box has its label, no
	// external asset, no script.
	boxes := regexp.MustCompile(`<textarea id="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(boxes) != 4 {
		t.Errorf("%d reply boxes, want 4", len(boxes))
	}
	for _, b := range boxes {
		if !strings.Contains(page, `<label for="`+b[1]+`">`) {
			t.Errorf("reply box %s has no label", b[1])
		}
	}
	if regexp.MustCompile(`(?i)<script|<link|src=|href="https?:`).MatchString(page) {
		t.Error("agent view loads something external or runs a script")
	}

	// Replying as the agent: the message is in the conversation and the agent took the task.
	if resp := agentPost(t, srv, "reply", url.Values{"chat": {sid}, "body": {"Let me look"}}, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", resp.StatusCode)
	}
	msgs, err := rc.ConversationsV1.ListConversationMessage(sid, nil)
	if err != nil || len(msgs) != 2 || deref(msgs[1].Author) != dev.AgentIdentity || deref(msgs[1].Body) != "Let me look" {
		t.Errorf("messages after reply = %+v, %v", msgs, err)
	}
	if page := getAgentView(t, srv); !strings.Contains(page, "You (agent)") || !strings.Contains(page, "task assigned") {
		t.Error("the reply or the assignment is not shown")
	}

	// Cross-site posts are refused.
	for name, h := range map[string]map[string]string{
		"Sec-Fetch-Site": {"Sec-Fetch-Site": "cross-site"},
		"Origin":         {"Origin": "https://evil.example"},
	} {
		if resp := agentPost(t, srv, "reply", url.Values{"chat": {sid}, "body": {"x"}}, h); resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site by %s: %d", name, resp.StatusCode)
		}
	}
	if resp := agentPost(t, srv, "reply", url.Values{"chat": {"CH00000000000000000000000000000000"}, "body": {"x"}}, nil); resp.StatusCode != 404 {
		t.Errorf("reply to an unknown chat: %d", resp.StatusCode)
	}

	// Closing.
	if resp := agentPost(t, srv, "close", url.Values{"chat": {sid}}, map[string]string{"Origin": srv.URL}); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("close: %d", resp.StatusCode)
	}
	conv, err := rc.ConversationsV1.FetchConversation(sid)
	if err != nil || deref(conv.State) != "closed" {
		t.Errorf("after close: %v, %v", deref(conv.State), err)
	}
	page = getAgentView(t, srv)
	if strings.Count(page, "<textarea") != 3 || !strings.Contains(page, "task completed") {
		t.Error("the closed chat still offers a reply box, or its task is not completed")
	}
	if len(emu.Requests()) == 0 || strings.Contains(emu.Requests()[len(emu.Requests())-1].Path, "agent") {
		t.Error("the agent view was recorded as Twilio traffic")
	}
}
