package flex_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twilio/twilio-go"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// fastRetry retries quickly, so that fault tests take milliseconds.
var fastRetry = flex.Retry{Initial: time.Millisecond, Max: 10 * time.Millisecond, Total: 5 * time.Second}

// setup runs an emulator behind wrap (when not nil) on a loopback server and
// returns a Client pointed at it.
func setup(t *testing.T, wrap func(http.Handler) http.Handler, modify ...func(*flex.Config)) (*flex.Client, *emulator.Emulator, flex.Config) {
	t.Helper()
	c, emu, cfg, _ := setupServer(t, wrap, modify...)
	return c, emu, cfg
}

// setupServer is setup, also returning the server.
func setupServer(t *testing.T, wrap func(http.Handler) http.Handler, modify ...func(*flex.Config)) (*flex.Client, *emulator.Emulator, flex.Config, *httptest.Server) {
	t.Helper()
	emu := emulator.New(emulator.DevConfig())
	var h http.Handler = emu
	if wrap != nil {
		h = wrap(emu)
	}
	mux := http.NewServeMux()
	mux.Handle(emulator.PathPrefix, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { srv.Close(); emu.Close() })

	cfg := devConfig()
	cfg.BaseURL = srv.URL + "/_twilio"
	cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	cfg.Retry = fastRetry
	for _, m := range modify {
		m(&cfg)
	}
	c, err := flex.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, emu, cfg, srv
}

// flexFlowMode is a setup modifier for legacy Flex.
func flexFlowMode(c *flex.Config) { c.Mode = flex.ModeFlexFlow }

// restFor returns the real twilio-go client for cfg.
func restFor(t *testing.T, cfg flex.Config) *twilio.RestClient {
	t.Helper()
	bc, err := flex.NewBaseClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := twilio.NewRestClientWithParams(twilio.ClientParams{Client: bc})
	rc.SetEdge("")
	rc.SetRegion("")
	return rc
}

// fetchAttributes reads a conversation's attributes with the real twilio-go
// client.
func fetchAttributes(t *testing.T, cfg flex.Config, sid string) map[string]any {
	t.Helper()
	conv, err := restFor(t, cfg).ConversationsV1.FetchConversation(sid)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]any
	if err := json.Unmarshal([]byte(*conv.Attributes), &attrs); err != nil {
		t.Fatal(err)
	}
	return attrs
}

// summary is a verification summary as the broker would build it: what
// was verified and the claims the policy discloses, never the holder's DID.
func summary() map[string]any {
	return map[string]any{
		"verified":    true,
		"issuer":      "Example Bank",
		"credential":  "CustomerCredential",
		"verified_at": "2025-01-02T03:04:05Z",
		"claims":      map[string]any{"customer_tier": "gold"},
	}
}

func TestOpenChat(t *testing.T) {
	c, emu, cfg := setup(t, nil)
	req := flex.ChatRequest{
		Identity:             "hr_ABCDEFGHIJKLMNOP",
		CustomerFriendlyName: "Verified customer",
		ChatFriendlyName:     "Verified chat",
		Attributes:           summary(),
		IdempotencyKey:       "01SESSION",
	}
	chat, err := c.OpenChat(context.Background(), req)
	if err != nil {
		t.Fatalf("OpenChat: %v", err)
	}
	if !strings.HasPrefix(chat.ConversationSID, "CH") || len(chat.ConversationSID) != 34 || chat.Identity != req.Identity ||
		chat.ChannelSID != "" || chat.Reused || chat.SID() != chat.ConversationSID {
		t.Fatalf("chat = %+v", chat)
	}

	// The conversation carries the summary under "verification", and keeps
	// what Flex put there; its unique name is the idempotency key's.
	attrs := fetchAttributes(t, cfg, chat.ConversationSID)
	// The pre-engagement data: the summary, the name the agent sees, and
	// the session's key, which marks the conversation as this session's.
	pre := summary()
	pre["friendlyName"] = "Verified customer"
	pre[flex.ChatKeyAttribute] = "01SESSION"
	want := roundTrip(t, map[string]any{
		"verification":        summary(),
		"pre_engagement_data": pre,
		"from":                "Verified customer",
	})
	if !reflect.DeepEqual(attrs, want) {
		t.Errorf("attributes = %v\nwant %v", attrs, want)
	}
	rc := restFor(t, cfg)
	if conv, err := rc.ConversationsV1.FetchConversation(flex.UniqueNamePrefix + "01SESSION"); err != nil || *conv.Sid != chat.ConversationSID {
		t.Errorf("fetch by unique name = %v, %v", conv, err)
	}
	// So does the customer's participant.
	parts, err := rc.ConversationsV1.ListConversationParticipant(chat.ConversationSID, nil)
	if err != nil || len(parts) != 1 {
		t.Fatalf("participants = %v, %v", parts, err)
	}
	wantPart := roundTrip(t, map[string]any{"friendlyName": "Verified customer", "verification": summary()})
	if got := decode(t, *parts[0].Attributes); !reflect.DeepEqual(got, any(wantPart)) {
		t.Errorf("participant attributes = %v, want %v", got, wantPart)
	}

	// What reached "Twilio": exactly these requests, exactly these fields.
	reqs := emu.Requests()
	reqs = reqs[:len(reqs)-3] // the fetches above
	var calls []string
	for _, r := range reqs {
		calls = append(calls, r.Method+" "+strings.NewReplacer(chat.ConversationSID, "{sid}", *parts[0].Sid, "{participant}").Replace(r.Path))
	}
	wantCalls := []string{
		"GET /_twilio/conversations/v1/ParticipantConversations",
		"POST /_twilio/flex-api/v2/WebChats",
		"GET /_twilio/conversations/v1/Conversations/{sid}",
		"POST /_twilio/conversations/v1/Conversations/{sid}",
		"GET /_twilio/conversations/v1/Conversations/{sid}/Participants",
		"POST /_twilio/conversations/v1/Conversations/{sid}/Participants/{participant}",
	}
	if !reflect.DeepEqual(calls, wantCalls) {
		t.Fatalf("calls = %q, want %q", calls, wantCalls)
	}
	if got := reqs[0].Query.Get("Identity"); got != req.Identity {
		t.Errorf("participant conversations of %q", got)
	}
	assertForm(t, reqs[1].Form, map[string]string{
		"AddressSid":           cfg.AddressSID,
		"Identity":             req.Identity,
		"CustomerFriendlyName": req.CustomerFriendlyName,
		"ChatFriendlyName":     req.ChatFriendlyName,
		"PreEngagementData":    "",
	})
	if got := decode(t, reqs[1].Form.Get("PreEngagementData")); !reflect.DeepEqual(got, any(roundTrip(t, pre))) {
		t.Errorf("PreEngagementData = %v", got)
	}
	if len(reqs[2].Body) != 0 {
		t.Errorf("fetch sent %q", reqs[2].Body)
	}
	assertForm(t, reqs[3].Form, map[string]string{"Attributes": "", "UniqueName": flex.UniqueNamePrefix + "01SESSION"})
	if got := decode(t, reqs[3].Form.Get("Attributes")); !reflect.DeepEqual(got, any(want)) {
		t.Errorf("Attributes sent = %v", got)
	}
	assertForm(t, reqs[5].Form, map[string]string{"Attributes": ""})
	for _, r := range reqs {
		if r.AuthUser != cfg.AccountSID {
			t.Errorf("%s %s authenticated as %q", r.Method, r.Path, r.AuthUser)
		}
	}

	// The same request again (a retried bind) opens nothing new.
	again, err := c.OpenChat(context.Background(), req)
	if err != nil || again.ConversationSID != chat.ConversationSID || !again.Reused {
		t.Errorf("second OpenChat = %+v, %v; want the same chat, reused", again, err)
	}
	if n := count(emu.Requests(), "CreateWebChannel"); n != 1 {
		t.Errorf("%d web chats created, want 1", n)
	}
}

func TestOpenChatWithoutAttributesOrNames(t *testing.T) {
	c, emu, cfg := setup(t, nil, func(c *flex.Config) { c.AuthToken = "" }) // REST with the API key
	chat, err := c.OpenChat(context.Background(), flex.ChatRequest{Identity: "hr_minimal"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fetchAttributes(t, cfg, chat.ConversationSID)["verification"]; !reflect.DeepEqual(got, map[string]any{}) {
		t.Errorf("verification = %v, want {}", got)
	}
	var create emulator.Request
	for _, r := range emu.Requests() {
		if r.Operation == "CreateWebChannel" {
			create = r
		}
		if r.AuthUser != cfg.APIKeySID {
			t.Errorf("%s authenticated as %q, want the API key", r.Path, r.AuthUser)
		}
		if r.Operation == "UpdateConversation" && r.Form.Has("UniqueName") {
			t.Error("a unique name was set without an idempotency key")
		}
	}
	assertForm(t, create.Form, map[string]string{"AddressSid": cfg.AddressSID, "Identity": "hr_minimal", "PreEngagementData": ""})
	if pre := decode(t, create.Form.Get("PreEngagementData")).(map[string]any); len(pre) != 1 || pre[flex.ChatKeyAttribute] == "" {
		t.Errorf("PreEngagementData = %v, want only the call's key", pre)
	}
}

// count counts the recorded requests of operation op.
func count(reqs []emulator.Request, op string) int {
	n := 0
	for _, r := range reqs {
		if r.Operation == op {
			n++
		}
	}
	return n
}

func TestOpenChatErrors(t *testing.T) {
	failWith := func(status int, body, contentType string) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", contentType)
				w.WriteHeader(status)
				fmt.Fprint(w, body)
			})
		}
	}
	// hang never answers, until the client hangs up.
	hang := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client hanging up
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		})
	}
	tests := []struct {
		name      string
		wrap      func(http.Handler) http.Handler
		modify    func(*flex.Config)
		ctx       func() context.Context
		req       flex.ChatRequest
		op        string // "" for "list participant conversations", the first call
		status    int
		code      int
		temporary bool
		is        error
	}{
		{name: "404/unknown address", modify: func(c *flex.Config) { c.AddressSID = "IG00000000000000000000000000000000" },
			op: "create web chat", status: 404, code: 20404},
		{name: "401/wrong auth token", modify: func(c *flex.Config) { c.AuthToken = "wrongAuthToken000000000000000000" },
			status: 401, code: 20003},
		{name: "429/rate limited", wrap: failWith(429, `{"code":20429,"message":"Too Many Requests","more_info":"https://www.twilio.com/docs/errors/20429","status":429}`, "application/json"),
			status: 429, code: 20429, temporary: true},
		{name: "503/proxy page", wrap: failWith(503, "<html>Service Unavailable</html>", "text/html"),
			status: 503, temporary: true},
		{name: "timeout/HTTP client", wrap: hang,
			modify: func(c *flex.Config) { c.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} }, temporary: true},
		{name: "timeout/context deadline during the call", wrap: hang, ctx: func() context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, temporary: true, is: context.DeadlineExceeded},
		{name: "cancelled during the call", wrap: hang, ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			return ctx
		}, is: context.Canceled},
		{name: "cancelled context", ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, op: "create web chat", is: context.Canceled},
		{name: "no identity", req: flex.ChatRequest{Attributes: summary()}, op: "create web chat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*flex.Config)
			if tt.modify != nil {
				mods = append(mods, tt.modify)
			}
			mods = append(mods, func(c *flex.Config) { c.Retry.Total = 500 * time.Millisecond })
			c, _, cfg := setup(t, tt.wrap, mods...)
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			req := tt.req
			if req.Identity == "" && req.Attributes == nil {
				req = flex.ChatRequest{Identity: "hr_err", Attributes: summary()}
			}
			chat, err := c.OpenChat(ctx, req)

			var fe *flex.Error
			if !errors.As(err, &fe) {
				t.Fatalf("OpenChat = %+v, %v (%T); want *flex.Error", chat, err, err)
			}
			if chat != (flex.Chat{}) {
				t.Errorf("chat = %+v, want none", chat)
			}
			op := tt.op
			if op == "" {
				op = "list participant conversations"
			}
			if fe.Op != op || fe.Status != tt.status || fe.Code != tt.code || fe.Temporary() != tt.temporary {
				t.Errorf("error = %#v (Temporary %v); want status %d code %d temporary %v", fe, fe.Temporary(), tt.status, tt.code, tt.temporary)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
			for _, secret := range []string{cfg.AuthToken, cfg.APIKeySecret} {
				if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%#v", err), secret) {
					t.Errorf("error contains a secret: %v", err)
				}
			}
		})
	}
}

func TestOpenChatReturnsTheChatWhenAnnotatingFails(t *testing.T) {
	var failUpdates atomic.Bool // when set, updating a conversation fails with a 500
	wrap := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failUpdates.Load() && r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/_twilio/conversations/v1/Conversations/") {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				fmt.Fprint(w, `{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}`)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	c, emu, cfg := setup(t, wrap)
	failUpdates.Store(true)
	chat, err := c.OpenChat(context.Background(), flex.ChatRequest{Identity: "hr_retry", Attributes: summary()})
	var fe *flex.Error
	if !errors.As(err, &fe) || fe.Op != "update conversation" || fe.Status != 500 || fe.Code != 20500 || !fe.Temporary() {
		t.Fatalf("OpenChat error = %v, want a temporary update failure", err)
	}
	if chat.ConversationSID == "" || chat.Identity != "hr_retry" {
		t.Fatalf("OpenChat returned %+v, want the chat it created", chat)
	}

	// Retrying the annotation, not the chat, completes the binding.
	failUpdates.Store(false)
	if err := c.SetVerification(context.Background(), chat.ConversationSID, summary()); err != nil {
		t.Fatalf("SetVerification: %v", err)
	}
	if got := fetchAttributes(t, cfg, chat.ConversationSID)["verification"]; !reflect.DeepEqual(got, roundTrip(t, summary())) {
		t.Errorf("verification = %v", got)
	}
	webChats := 0
	for _, r := range emu.Requests() {
		if strings.HasSuffix(r.Path, "/WebChats") {
			webChats++
		}
	}
	if webChats != 1 {
		t.Errorf("%d web chats created, want 1", webChats)
	}
}

func TestSetVerificationUnknownConversation(t *testing.T) {
	c, _, _ := setup(t, nil)
	err := c.SetVerification(context.Background(), "CH00000000000000000000000000000000", summary())
	var fe *flex.Error
	if !errors.As(err, &fe) || fe.Op != "fetch conversation" || fe.Status != 404 || fe.Code != 20404 || fe.Temporary() {
		t.Errorf("SetVerification = %#v", err)
	}
}

func TestOpenChatConcurrently(t *testing.T) {
	c, emu, _ := setup(t, nil)
	const n = 16
	var wg sync.WaitGroup
	sids := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			chat, err := c.OpenChat(context.Background(), flex.ChatRequest{Identity: fmt.Sprintf("hr_%d", i), Attributes: summary()})
			if err != nil {
				t.Error(err)
				return
			}
			sids <- chat.ConversationSID
		})
	}
	wg.Wait()
	close(sids)
	seen := map[string]bool{}
	for sid := range sids {
		seen[sid] = true
	}
	if len(seen) != n || len(emu.Requests()) != 6*n {
		t.Errorf("%d distinct chats, %d requests; want %d, %d", len(seen), len(emu.Requests()), n, 6*n)
	}
}

func TestToken(t *testing.T) {
	c, emu, cfg := setup(t, nil)
	before := time.Now()
	token, expiresAt, err := c.Token("hr_tokenholder", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(emu.Requests()) != 0 {
		t.Error("minting a token called Twilio")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWS", token)
	}
	var header struct {
		Alg, Typ, Cty string
	}
	var payload struct {
		Iss, Sub, Jti string
		Exp, Nbf      int64
		Grants        struct {
			Identity string
			Chat     struct {
				ServiceSID string `json:"service_sid"`
			}
		}
	}
	decodeSegment(t, parts[0], &header)
	decodeSegment(t, parts[1], &payload)

	if header.Alg != "HS256" || header.Typ != "JWT" || header.Cty != "twilio-fpa;v=1" {
		t.Errorf("header = %+v", header)
	}
	if payload.Iss != cfg.APIKeySID || payload.Sub != cfg.AccountSID {
		t.Errorf("iss, sub = %q, %q", payload.Iss, payload.Sub)
	}
	if payload.Grants.Identity != "hr_tokenholder" || payload.Grants.Chat.ServiceSID != cfg.ConversationsServiceSID {
		t.Errorf("grants = %+v", payload.Grants)
	}
	if payload.Exp != expiresAt.Unix() {
		t.Errorf("exp = %d, want ValidUntil %d", payload.Exp, expiresAt.Unix())
	}
	if life := time.Unix(payload.Exp, 0).Sub(before.Truncate(time.Second)); life < 10*time.Minute-time.Second || life > 10*time.Minute+time.Second {
		t.Errorf("token lives %v, want 10m (twilio-go's one-hour floor must not apply)", life)
	}
	if payload.Nbf > time.Now().Unix() || !strings.HasPrefix(payload.Jti, cfg.APIKeySID+"-") {
		t.Errorf("nbf, jti = %d, %q", payload.Nbf, payload.Jti)
	}
	mac := hmac.New(sha256.New, []byte(cfg.APIKeySecret))
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) != parts[2] {
		t.Error("signature is not HMAC-SHA256 with the API key secret")
	}
}

func TestTokenRejects(t *testing.T) {
	c, _, _ := setup(t, nil)
	tests := []struct {
		name     string
		identity string
		ttl      time.Duration
	}{
		{"no identity", "", time.Minute},
		{"zero ttl", "hr_x", 0},
		{"negative ttl", "hr_x", -time.Minute},
		{"ttl beyond Twilio's 24 h", "hr_x", 25 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tok, _, err := c.Token(tt.identity, tt.ttl); err == nil {
				t.Errorf("Token = %q, want an error", tok)
			}
		})
	}
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

// assertForm checks that form has exactly the keys of want, with want's
// values where they are not empty.
func assertForm(t *testing.T, form map[string][]string, want map[string]string) {
	t.Helper()
	if len(form) != len(want) {
		t.Errorf("form has fields %v, want exactly %v", keys(form), want)
	}
	for k, v := range want {
		got, ok := form[k]
		if !ok || len(got) != 1 {
			t.Errorf("form[%s] = %q, want one value", k, got)
			continue
		}
		if v != "" && got[0] != v {
			t.Errorf("form[%s] = %q, want %q", k, got[0], v)
		}
	}
}

func keys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}

func roundTrip(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
