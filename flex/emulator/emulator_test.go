package emulator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	flexv2 "github.com/twilio/twilio-go/rest/flex/v2"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// start serves an emulator with the development account on a loopback
// server; h wraps it when not nil.
func start(t *testing.T, wrap func(http.Handler) http.Handler) (*emulator.Emulator, *httptest.Server) {
	t.Helper()
	return startWith(t, emulator.DevConfig(), wrap)
}

// startWith is start for the account cfg describes.
func startWith(t *testing.T, cfg emulator.Config, wrap func(http.Handler) http.Handler) (*emulator.Emulator, *httptest.Server) {
	t.Helper()
	emu := emulator.New(cfg)
	var h http.Handler = emu
	if wrap != nil {
		h = wrap(emu)
	}
	mux := http.NewServeMux()
	mux.Handle(emulator.PathPrefix, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return emu, srv
}

// rest returns the real twilio-go client, sending to srv through
// flex.BaseClient, authenticated as user:pass.
func rest(t *testing.T, srv *httptest.Server, user, pass string) *twilio.RestClient {
	t.Helper()
	dev := emulator.DevConfig()
	cfg := flex.Config{AccountSID: dev.AccountSID, BaseURL: srv.URL + "/_twilio", HTTPClient: srv.Client()}
	if strings.HasPrefix(user, "SK") {
		cfg.APIKeySID, cfg.APIKeySecret = user, pass
	} else {
		cfg.AuthToken = pass
	}
	bc, err := flex.NewBaseClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: bc})
	rc.SetEdge("")
	rc.SetRegion("")
	return rc
}

func devRest(t *testing.T, srv *httptest.Server) *twilio.RestClient {
	dev := emulator.DevConfig()
	return rest(t, srv, dev.AccountSID, dev.AuthToken)
}

func createChat(t *testing.T, rc *twilio.RestClient, identity, customer, chat, pre string) *flexv2.FlexV2WebChannel {
	t.Helper()
	p := &flexv2.CreateWebChannelParams{}
	p.SetAddressSid(emulator.DevConfig().AddressSID)
	p.SetIdentity(identity)
	if customer != "" {
		p.SetCustomerFriendlyName(customer)
	}
	if chat != "" {
		p.SetChatFriendlyName(chat)
	}
	if pre != "" {
		p.SetPreEngagementData(pre)
	}
	wc, err := rc.FlexV2.CreateWebChannel(p)
	if err != nil {
		t.Fatalf("CreateWebChannel: %v", err)
	}
	return wc
}

func TestWebChatLifecycleThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	wc := createChat(t, rc, "hr_alice", "Alice", "Chat with Alice", `{"verified":true,"level":"high"}`)
	if wc.ConversationSid == nil || !sidLike(*wc.ConversationSid, "CH") {
		t.Fatalf("conversation_sid = %v, want CH + 32 hex", wc.ConversationSid)
	}
	if got := deref(wc.Identity); got != "hr_alice" {
		t.Fatalf("identity = %q, want hr_alice", got)
	}
	sid := *wc.ConversationSid

	// Fetch: what Flex put there.
	conv, err := rc.ConversationsV1.FetchConversation(sid)
	if err != nil {
		t.Fatalf("FetchConversation: %v", err)
	}
	if deref(conv.Sid) != sid || deref(conv.AccountSid) != dev.AccountSID || deref(conv.ChatServiceSid) != dev.ConversationsServiceSID {
		t.Errorf("sids = %v/%v/%v", deref(conv.Sid), deref(conv.AccountSid), deref(conv.ChatServiceSid))
	}
	if deref(conv.FriendlyName) != "Chat with Alice" || deref(conv.State) != "active" {
		t.Errorf("friendly_name, state = %q, %q", deref(conv.FriendlyName), deref(conv.State))
	}
	assertJSON(t, deref(conv.Attributes), `{"from":"Alice","pre_engagement_data":{"verified":true,"level":"high"}}`)
	if conv.DateCreated == nil || conv.DateCreated.IsZero() {
		t.Error("date_created missing")
	}
	if want := "https://conversations.twilio.com/v1/Conversations/" + sid; deref(conv.Url) != want {
		t.Errorf("url = %q, want %q", deref(conv.Url), want)
	}

	// Update.
	up := &conversations.UpdateConversationParams{}
	up.SetAttributes(`{"verification":{"verified":true}}`)
	up.SetFriendlyName("Renamed")
	up.SetState("inactive")
	conv, err = rc.ConversationsV1.UpdateConversation(sid, up)
	if err != nil {
		t.Fatalf("UpdateConversation: %v", err)
	}
	assertJSON(t, deref(conv.Attributes), `{"verification":{"verified":true}}`)
	if deref(conv.FriendlyName) != "Renamed" || deref(conv.State) != "inactive" {
		t.Errorf("after update: friendly_name, state = %q, %q", deref(conv.FriendlyName), deref(conv.State))
	}
	if again, err := rc.ConversationsV1.FetchConversation(sid); err != nil || deref(again.FriendlyName) != "Renamed" {
		t.Errorf("fetch after update = %v, %v", again, err)
	}

	// Participants: the customer, with the friendly name Flex gives.
	parts, err := rc.ConversationsV1.ListConversationParticipant(sid, nil)
	if err != nil {
		t.Fatalf("ListConversationParticipant: %v", err)
	}
	if len(parts) != 1 || deref(parts[0].Identity) != "hr_alice" || !sidLike(deref(parts[0].Sid), "MB") {
		t.Fatalf("participants = %+v", parts)
	}
	assertJSON(t, deref(parts[0].Attributes), `{"friendlyName":"Alice"}`)

	// Messages.
	for _, body := range []string{"hello", "anyone there?"} {
		mp := &conversations.CreateConversationMessageParams{}
		mp.SetAuthor("hr_alice")
		mp.SetBody(body)
		m, err := rc.ConversationsV1.CreateConversationMessage(sid, mp)
		if err != nil {
			t.Fatalf("CreateConversationMessage: %v", err)
		}
		if !sidLike(deref(m.Sid), "IM") || deref(m.ParticipantSid) != deref(parts[0].Sid) {
			t.Errorf("message = %+v", m)
		}
	}
	msgs, err := rc.ConversationsV1.ListConversationMessage(sid, nil)
	if err != nil {
		t.Fatalf("ListConversationMessage: %v", err)
	}
	if len(msgs) != 2 || deref(msgs[0].Body) != "hello" || msgs[1].Index != 1 || deref(msgs[1].Author) != "hr_alice" {
		t.Errorf("messages = %+v", msgs)
	}
	desc := &conversations.ListConversationMessageParams{}
	desc.SetOrder("desc")
	if msgs, err := rc.ConversationsV1.ListConversationMessage(sid, desc); err != nil || len(msgs) != 2 || deref(msgs[0].Body) != "anyone there?" {
		t.Errorf("messages desc = %+v, %v", msgs, err)
	}

	// The user Flex created, by identity and by SID.
	u, err := rc.ConversationsV1.FetchUser("hr_alice")
	if err != nil {
		t.Fatalf("FetchUser(identity): %v", err)
	}
	if !sidLike(deref(u.Sid), "US") || deref(u.Identity) != "hr_alice" || deref(u.ChatServiceSid) != dev.ConversationsServiceSID {
		t.Errorf("user = %+v", u)
	}
	if bySID, err := rc.ConversationsV1.FetchUser(deref(u.Sid)); err != nil || deref(bySID.Identity) != "hr_alice" {
		t.Errorf("FetchUser(sid) = %+v, %v", bySID, err)
	}

	// A second chat for the same identity reuses the user.
	wc2 := createChat(t, rc, "hr_alice", "Alice", "", "")
	if *wc2.ConversationSid == sid {
		t.Fatal("second chat reused the conversation")
	}
	u2, err := rc.ConversationsV1.FetchUser("hr_alice")
	if err != nil || deref(u2.Sid) != deref(u.Sid) {
		t.Errorf("second chat's user = %v, %v; want %s", deref(u2.Sid), err, deref(u.Sid))
	}
	conv2, err := rc.ConversationsV1.FetchConversation(*wc2.ConversationSid)
	if err != nil {
		t.Fatal(err)
	}
	assertJSON(t, deref(conv2.Attributes), `{"from":"Alice","pre_engagement_data":{}}`)
}

func TestListConversationsPagesThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	want := map[string]bool{}
	for i := range 5 {
		want[*createChat(t, rc, fmt.Sprintf("hr_%d", i), "", "", "").ConversationSid] = true
	}
	// PageSize 2 makes twilio-go follow next_page_url twice, through the
	// BaseClient's rewriting of Twilio's URLs.
	p := &conversations.ListConversationParams{}
	p.SetPageSize(2)
	got, err := rc.ConversationsV1.ListConversation(p)
	if err != nil {
		t.Fatalf("ListConversation: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d conversations, want %d", len(got), len(want))
	}
	for _, c := range got {
		if !want[deref(c.Sid)] {
			t.Errorf("unexpected conversation %s", deref(c.Sid))
		}
		delete(want, deref(c.Sid))
	}

	page, err := rc.ConversationsV1.PageConversation(p, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if page.Meta.Key != "conversations" || page.Meta.PageSize != 2 || page.Meta.NextPageUrl == nil {
		t.Errorf("meta = %+v", page.Meta)
	}
	if !strings.HasPrefix(deref(page.Meta.NextPageUrl), "https://conversations.twilio.com/v1/Conversations?") {
		t.Errorf("next_page_url = %q", deref(page.Meta.NextPageUrl))
	}

	closed := &conversations.ListConversationParams{}
	closed.SetState("closed")
	if got, err := rc.ConversationsV1.ListConversation(closed); err != nil || len(got) != 0 {
		t.Errorf("closed conversations = %d, %v; want none", len(got), err)
	}
}

func TestErrorsThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	dev := emulator.DevConfig()
	rc := devRest(t, srv)
	sid := *createChat(t, rc, "hr_bob", "Bob", "", "").ConversationSid

	badAttrs := &conversations.UpdateConversationParams{}
	badAttrs.SetAttributes("{not json")
	badState := &conversations.UpdateConversationParams{}
	badState.SetState("exploded")

	tests := []struct {
		name         string
		call         func() error
		status, code int
	}{
		{"401/wrong auth token", func() error {
			_, err := rest(t, srv, dev.AccountSID, "wrongAuthToken000000000000000000").ConversationsV1.FetchConversation(sid)
			return err
		}, 401, 20003},
		{"401/wrong API key secret", func() error {
			_, err := rest(t, srv, dev.APIKeySID, "wrongApiKeySecret000000000000000").FlexV2.CreateWebChannel(nil)
			return err
		}, 401, 20003},
		{"401/API key secret with account SID", func() error {
			_, err := rest(t, srv, dev.AccountSID, dev.APIKeySecret).ConversationsV1.FetchConversation(sid)
			return err
		}, 401, 20003},
		{"404/unknown conversation", func() error {
			_, err := rc.ConversationsV1.FetchConversation("CH00000000000000000000000000000000")
			return err
		}, 404, 20404},
		{"404/update unknown conversation", func() error {
			_, err := rc.ConversationsV1.UpdateConversation("CH00000000000000000000000000000000",
				(&conversations.UpdateConversationParams{}).SetFriendlyName("x"))
			return err
		}, 404, 20404},
		{"400/invalid state", func() error {
			_, err := rc.ConversationsV1.UpdateConversation(sid, badState)
			return err
		}, 400, 20001},
		{"404/participants of unknown conversation", func() error {
			_, err := rc.ConversationsV1.ListConversationParticipant("CH00000000000000000000000000000000", nil)
			return err
		}, 404, 20404},
		{"404/unknown user", func() error {
			_, err := rc.ConversationsV1.FetchUser("nobody")
			return err
		}, 404, 20404},
		{"400/attributes not JSON", func() error {
			_, err := rc.ConversationsV1.UpdateConversation(sid, badAttrs)
			return err
		}, 400, 50304},
		{"400/web chat without AddressSid", func() error {
			_, err := rc.FlexV2.CreateWebChannel(&flexv2.CreateWebChannelParams{})
			return err
		}, 400, 20001},
		{"404/web chat with another address", func() error {
			_, err := rc.FlexV2.CreateWebChannel((&flexv2.CreateWebChannelParams{}).SetAddressSid("IG00000000000000000000000000000000"))
			return err
		}, 404, 20404},
		{"400/pre-engagement data not JSON", func() error {
			_, err := rc.FlexV2.CreateWebChannel((&flexv2.CreateWebChannelParams{}).SetAddressSid(dev.AddressSID).SetPreEngagementData("{"))
			return err
		}, 400, 20001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var te *client.TwilioRestError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v (%T), want *client.TwilioRestError", err, err)
			}
			if te.Status != tt.status || te.Code != tt.code {
				t.Errorf("status, code = %d, %d; want %d, %d", te.Status, te.Code, tt.status, tt.code)
			}
			if want := fmt.Sprintf("https://www.twilio.com/docs/errors/%d", tt.code); te.MoreInfo != want {
				t.Errorf("more_info = %q, want %q", te.MoreInfo, want)
			}
			if te.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestAPIKeyAuthentication(t *testing.T) {
	emu, srv := start(t, nil)
	dev := emulator.DevConfig()
	rc := rest(t, srv, dev.APIKeySID, dev.APIKeySecret)
	createChat(t, rc, "hr_key", "", "", "")
	reqs := emu.Requests()
	if len(reqs) != 1 || reqs[0].AuthUser != dev.APIKeySID {
		t.Fatalf("requests = %+v, want one authenticated as %s", reqs, dev.APIKeySID)
	}
}

func TestRequestsRecordsWhatWasSent(t *testing.T) {
	emu, srv := start(t, nil)
	rc := devRest(t, srv)
	createChat(t, rc, "hr_carol", "Carol", "Carol's chat", `{"a":1}`)

	reqs := emu.Requests()
	if len(reqs) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/_twilio/flex-api/v2/WebChats" {
		t.Errorf("request = %s %s", r.Method, r.Path)
	}
	want := map[string]string{
		"AddressSid":           emulator.DevConfig().AddressSID,
		"Identity":             "hr_carol",
		"CustomerFriendlyName": "Carol",
		"ChatFriendlyName":     "Carol's chat",
		"PreEngagementData":    `{"a":1}`,
	}
	if len(r.Form) != len(want) {
		t.Errorf("form = %v, want exactly %v", r.Form, want)
	}
	for k, v := range want {
		if r.Form.Get(k) != v {
			t.Errorf("form[%s] = %q, want %q", k, r.Form.Get(k), v)
		}
	}
	if !strings.Contains(string(r.Body), "Identity=hr_carol") {
		t.Errorf("raw body = %q", r.Body)
	}
	if strings.Contains(fmt.Sprintf("%+v", reqs), emulator.DevConfig().AuthToken) {
		t.Error("the recording holds the auth token")
	}

	// The result is a copy.
	reqs[0].Form.Set("Identity", "changed")
	if emu.Requests()[0].Form.Get("Identity") != "hr_carol" {
		t.Error("Requests returned shared state")
	}
}

func TestRequestsIsBounded(t *testing.T) {
	emu := emulator.New(emulator.Config{})
	const extra = 7
	for i := range emulator.MaxRecordedRequests + extra {
		r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/_twilio/conversations/v1/Users/u%d", i), nil)
		emu.ServeHTTP(httptest.NewRecorder(), r)
	}
	reqs := emu.Requests()
	if len(reqs) != emulator.MaxRecordedRequests {
		t.Fatalf("kept %d requests, want %d", len(reqs), emulator.MaxRecordedRequests)
	}
	if first, last := reqs[0].Path, reqs[len(reqs)-1].Path; !strings.HasSuffix(first, fmt.Sprintf("/u%d", extra)) ||
		!strings.HasSuffix(last, fmt.Sprintf("/u%d", emulator.MaxRecordedRequests+extra-1)) {
		t.Errorf("kept %s … %s, want the newest, oldest first", first, last)
	}
}

func TestUnauthenticatedAndUnknownPaths(t *testing.T) {
	emu := emulator.New(emulator.DevConfig())
	dev := emulator.DevConfig()
	tests := []struct {
		name         string
		method, path string
		auth         bool
		status, code int
	}{
		{"401/no credentials", "GET", "/_twilio/conversations/v1/Conversations", false, 401, 20003},
		{"404/unknown resource", "GET", "/_twilio/conversations/v1/Nothing", true, 404, 20404},
		{"404/unknown host label", "POST", "/_twilio/api/2010-04-01/Accounts", true, 404, 20404},
		{"404/unsupported method", "DELETE", "/_twilio/conversations/v1/Conversations/CH00000000000000000000000000000000", true, 404, 20404},
		{"400/bad PageSize", "GET", "/_twilio/conversations/v1/Conversations?PageSize=zero", true, 400, 20001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.auth {
				r.SetBasicAuth(dev.AccountSID, dev.AuthToken)
			}
			w := httptest.NewRecorder()
			emu.ServeHTTP(w, r)
			var body struct {
				Code     int    `json:"code"`
				Message  string `json:"message"`
				MoreInfo string `json:"more_info"`
				Status   int    `json:"status"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if w.Code != tt.status || body.Status != tt.status || body.Code != tt.code || body.Message == "" {
				t.Errorf("got %d %+v, want %d code %d", w.Code, body, tt.status, tt.code)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestConcurrentWebChats(t *testing.T) {
	emu, srv := start(t, nil)
	rc := devRest(t, srv)
	const n = 20
	var wg sync.WaitGroup
	sids := make([]string, n)
	for i := range n {
		wg.Go(func() {
			p := &flexv2.CreateWebChannelParams{}
			p.SetAddressSid(emulator.DevConfig().AddressSID)
			p.SetIdentity(fmt.Sprintf("hr_%d", i%4)) // identities shared between chats
			wc, err := rc.FlexV2.CreateWebChannel(p)
			if err != nil {
				t.Error(err)
				return
			}
			sids[i] = *wc.ConversationSid
			if _, err := rc.ConversationsV1.FetchConversation(sids[i]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, err := rc.ConversationsV1.ListConversation(nil)
	if err != nil || len(got) != n {
		t.Fatalf("listed %d, %v; want %d", len(got), err, n)
	}
	users := map[string]bool{}
	for i := range 4 {
		u, err := rc.ConversationsV1.FetchUser(fmt.Sprintf("hr_%d", i))
		if err != nil {
			t.Fatal(err)
		}
		users[deref(u.Sid)] = true
	}
	if len(users) != 4 {
		t.Errorf("%d distinct users for 4 identities", len(users))
	}
	if len(emu.Requests()) != 2*n+1+4 {
		t.Errorf("recorded %d requests, want %d", len(emu.Requests()), 2*n+1+4)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func sidLike(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range s[2:] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func assertJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("not JSON: %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Errorf("JSON = %s, want %s", gb, wb)
	}
}

// webChatParams builds web chat parameters.
type webChatParams struct{}

func (webChatParams) web(address, identity string) *flexv2.CreateWebChannelParams {
	return (&flexv2.CreateWebChannelParams{}).SetAddressSid(address).SetIdentity(identity)
}

// restClientOf is the twilio-go client over bc.
func restClientOf(bc *flex.BaseClient) *twilio.RestClient {
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: bc})
	rc.SetEdge("")
	rc.SetRegion("")
	return rc
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
