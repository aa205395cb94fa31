package emulator_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// tokenClient returns a flex.Client for the emulator, whose Token mints
// customers' access tokens.
func tokenClient(t *testing.T, mode flex.Mode) *flex.Client {
	t.Helper()
	dev := emulator.DevConfig()
	c, err := flex.New(flex.Config{Mode: mode, AccountSID: dev.AccountSID, AuthToken: dev.AuthToken,
		APIKeySID: dev.APIKeySID, APIKeySecret: dev.APIKeySecret, AddressSID: dev.AddressSID,
		ConversationsServiceSID: dev.ConversationsServiceSID, FlexFlowSID: dev.FlexFlowSID, ChatServiceSID: dev.ChatServiceSID})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// handMint signs claims like an access token, with secret.
func handMint(secret string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "HS256", "typ": "JWT", "cty": "twilio-fpa;v=1"})
	p, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// customerCall makes a call as the browser does: a bearer token, a form body.
func customerCall(t *testing.T, srv *httptest.Server, method, path, token, header string, form url.Values) (int, map[string]any) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	switch header {
	case "X-Twilio-Token":
		req.Header.Set("X-Twilio-Token", token)
	default:
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestCustomerAccessTokenConversations(t *testing.T) {
	emu, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()
	mine := *createChat(t, rc, "hr_me", "Me", "", "").ConversationSid
	theirs := *createChat(t, rc, "hr_them", "Them", "", "").ConversationSid
	c := tokenClient(t, flex.ModeConversations)
	token, _, err := c.Token("hr_me", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	msgs := "/_twilio/conversations/v1/Conversations/" + mine + "/Messages"

	status, m := customerCall(t, srv, "POST", msgs, token, "", url.Values{"Body": {"hello"}, "Author": {"someone-else"}})
	if status != 201 || m["author"] != "hr_me" || m["body"] != "hello" || m["participant_sid"] == nil {
		t.Fatalf("post as the customer = %d %v", status, m)
	}
	if err := emu.Reply(mine, "How can I help?"); err != nil {
		t.Fatal(err)
	}
	status, list := customerCall(t, srv, "GET", msgs, token, "X-Twilio-Token", nil)
	if items, _ := list["messages"].([]any); status != 200 || len(items) != 2 || items[1].(map[string]any)["author"] != dev.AgentIdentity {
		t.Errorf("list as the customer = %d %v", status, list)
	}
	if status, conv := customerCall(t, srv, "GET", "/_twilio/conversations/v1/Conversations/"+mine, token, "", nil); status != 200 || conv["sid"] != mine {
		t.Errorf("fetch own conversation = %d %v", status, conv)
	}
	if r := emu.Requests(); r[len(r)-1].Identity != "hr_me" || r[len(r)-1].AuthUser != "" {
		t.Errorf("recorded identity = %q, user %q", r[len(r)-1].Identity, r[len(r)-1].AuthUser)
	}

	flexflowToken, _, _ := tokenClient(t, flex.ModeFlexFlow).Token("hr_me", time.Minute)
	now := time.Now().Unix()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"jti": dev.APIKeySID + "-1", "iss": dev.APIKeySID, "sub": dev.AccountSID, "nbf": now - 10, "exp": now + 600,
			"grants": map[string]any{"identity": "hr_me", "chat": map[string]any{"service_sid": dev.ConversationsServiceSID}}}
		mod(c)
		return c
	}
	tests := []struct {
		name         string
		method, path string
		token        string
		status, code int
	}{
		{"403/another customer's conversation", "GET", "/_twilio/conversations/v1/Conversations/" + theirs + "/Messages", token, 403, 20403},
		{"403/post in another customer's conversation", "POST", "/_twilio/conversations/v1/Conversations/" + theirs + "/Messages", token, 403, 20403},
		{"403/account-only operation", "GET", "/_twilio/conversations/v1/Conversations", token, 403, 20403},
		{"403/update the conversation", "POST", "/_twilio/conversations/v1/Conversations/" + mine, token, 403, 20403},
		{"403/token for the Chat service", "GET", msgs, flexflowToken, 403, 20403},
		{"401/expired", "GET", msgs, handMint(dev.APIKeySecret, claims(func(c map[string]any) { c["exp"] = now - 120 })), 401, 20104},
		{"401/not yet valid", "GET", msgs, handMint(dev.APIKeySecret, claims(func(c map[string]any) { c["nbf"] = now + 600 })), 401, 20101},
		{"401/signed with another secret", "GET", msgs, handMint("anotherSecret000000000000000000", claims(func(map[string]any) {})), 401, 20101},
		{"401/another account", "GET", msgs, handMint(dev.APIKeySecret, claims(func(c map[string]any) { c["sub"] = "AC00000000000000000000000000000000" })), 401, 20101},
		{"401/no identity", "GET", msgs, handMint(dev.APIKeySecret, claims(func(c map[string]any) { c["grants"] = map[string]any{} })), 401, 20101},
		{"401/garbage", "GET", msgs, "not.a.jwt", 401, 20101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var form url.Values
			if tt.method == "POST" {
				form = url.Values{"Body": {"x"}}
			}
			status, body := customerCall(t, srv, tt.method, tt.path, tt.token, "", form)
			if status != tt.status || body["code"] != float64(tt.code) || body["status"] != float64(tt.status) {
				t.Errorf("got %d %v, want %d/%d", status, body, tt.status, tt.code)
			}
		})
	}
	// Nothing was posted in the other conversation.
	if all, _ := rc.ConversationsV1.ListConversationMessage(theirs, nil); len(all) != 0 {
		t.Errorf("messages in another's conversation: %d", len(all))
	}
}

func TestCustomerAccessTokenChat(t *testing.T) {
	emu, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()
	mine := deref(createChannel(t, rc.FlexV1, "hr_me", "Me", "", "").Sid)
	theirs := deref(createChannel(t, rc.FlexV1, "hr_them", "Them", "", "").Sid)
	token, _, err := tokenClient(t, flex.ModeFlexFlow).Token("hr_me", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	base := "/_twilio/chat/v2/Services/" + dev.ChatServiceSID + "/Channels/"
	if status, m := customerCall(t, srv, "POST", base+mine+"/Messages", token, "", url.Values{"Body": {"hi"}}); status != 201 || m["from"] != "hr_me" {
		t.Fatalf("post = %d %v", status, m)
	}
	if err := emu.Reply(mine, "Hello"); err != nil {
		t.Fatal(err)
	}
	if status, l := customerCall(t, srv, "GET", base+mine+"/Messages", token, "", nil); status != 200 || len(l["messages"].([]any)) != 2 {
		t.Errorf("list = %d %v", status, l)
	}
	if status, _ := customerCall(t, srv, "GET", base+theirs+"/Messages", token, "", nil); status != 403 {
		t.Errorf("another's channel = %d, want 403", status)
	}
	convToken, _, _ := tokenClient(t, flex.ModeConversations).Token("hr_me", time.Minute)
	if status, _ := customerCall(t, srv, "GET", base+mine+"/Messages", convToken, "", nil); status != 403 {
		t.Errorf("Conversations token on Chat = %d, want 403", status)
	}
}

// FuzzCustomerToken: whatever a browser sends as its access token, the
// emulator answers 401 or 403, never a customer's data.
func FuzzCustomerToken(f *testing.F) {
	dev := emulator.DevConfig()
	now := time.Now().Unix()
	f.Add(handMint("wrong", map[string]any{"iss": dev.APIKeySID, "sub": dev.AccountSID, "exp": now + 60,
		"grants": map[string]any{"identity": "hr_x", "chat": map[string]any{"service_sid": dev.ConversationsServiceSID}}}))
	f.Add("eyJhbGciOiJub25lIn0.eyJncmFudHMiOnt9fQ.")
	f.Add("a.b.c")
	f.Add("")
	emu := emulator.New(dev)
	f.Fuzz(func(t *testing.T, token string) {
		r := httptest.NewRequest(http.MethodGet, "/_twilio/conversations/v1/Conversations/CH00000000000000000000000000000001/Messages", nil)
		r.Header.Set("X-Twilio-Token", token)
		w := httptest.NewRecorder()
		emu.ServeHTTP(w, r)
		if w.Code != 401 && w.Code != 403 {
			t.Fatalf("token %q: %d %s", token, w.Code, w.Body)
		}
	})
}
