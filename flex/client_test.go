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

// setup runs an emulator behind wrap (when not nil) on a loopback server and
// returns a Client pointed at it.
func setup(t *testing.T, wrap func(http.Handler) http.Handler, modify ...func(*flex.Config)) (*flex.Client, *emulator.Emulator, flex.Config) {
	t.Helper()
	emu := emulator.New(emulator.DevConfig())
	var h http.Handler = emu
	if wrap != nil {
		h = wrap(emu)
	}
	mux := http.NewServeMux()
	mux.Handle(emulator.PathPrefix, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	cfg := devConfig()
	cfg.BaseURL = srv.URL + "/_twilio"
	cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second}
	for _, m := range modify {
		m(&cfg)
	}
	c, err := flex.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, emu, cfg
}

// fetchAttributes reads a conversation's attributes with the real twilio-go
// client.
func fetchAttributes(t *testing.T, cfg flex.Config, sid string) map[string]any {
	t.Helper()
	bc, err := flex.NewBaseClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := twilio.NewRestClientWithParams(twilio.ClientParams{Client: bc}).ConversationsV1.FetchConversation(sid)
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
	}
	chat, err := c.OpenChat(context.Background(), req)
	if err != nil {
		t.Fatalf("OpenChat: %v", err)
	}
	if !strings.HasPrefix(chat.ConversationSID, "CH") || len(chat.ConversationSID) != 34 || chat.Identity != req.Identity {
		t.Fatalf("chat = %+v", chat)
	}

	// The conversation carries the summary under "verification", and keeps
	// what Flex put there.
	attrs := fetchAttributes(t, cfg, chat.ConversationSID)
	want := roundTrip(t, map[string]any{
		"verification":        summary(),
		"pre_engagement_data": summary(),
		"from":                "Verified customer",
	})
	if !reflect.DeepEqual(attrs, want) {
		t.Errorf("attributes = %v\nwant %v", attrs, want)
	}

	// What reached "Twilio": exactly these requests, exactly these fields.
	reqs := emu.Requests()
	reqs = reqs[:len(reqs)-1] // the fetch above
	var calls []string
	for _, r := range reqs {
		calls = append(calls, r.Method+" "+strings.Replace(r.Path, chat.ConversationSID, "{sid}", 1))
	}
	wantCalls := []string{
		"POST /_twilio/flex-api/v2/WebChats",
		"GET /_twilio/conversations/v1/Conversations/{sid}",
		"POST /_twilio/conversations/v1/Conversations/{sid}",
	}
	if !reflect.DeepEqual(calls, wantCalls) {
		t.Fatalf("calls = %q, want %q", calls, wantCalls)
	}
	assertForm(t, reqs[0].Form, map[string]string{
		"AddressSid":           cfg.AddressSID,
		"Identity":             req.Identity,
		"CustomerFriendlyName": req.CustomerFriendlyName,
		"ChatFriendlyName":     req.ChatFriendlyName,
		"PreEngagementData":    "",
	})
	if got := decode(t, reqs[0].Form.Get("PreEngagementData")); !reflect.DeepEqual(got, roundTrip(t, summary())) {
		t.Errorf("PreEngagementData = %v", got)
	}
	if len(reqs[1].Body) != 0 || len(reqs[1].Query) != 0 {
		t.Errorf("fetch sent %q ?%v", reqs[1].Body, reqs[1].Query)
	}
	assertForm(t, reqs[2].Form, map[string]string{"Attributes": ""})
	if got := decode(t, reqs[2].Form.Get("Attributes")); !reflect.DeepEqual(got, want) {
		t.Errorf("Attributes sent = %v", got)
	}
	for _, r := range reqs {
		if r.AuthUser != cfg.AccountSID {
			t.Errorf("%s %s authenticated as %q", r.Method, r.Path, r.AuthUser)
		}
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
	first := emu.Requests()[0]
	assertForm(t, first.Form, map[string]string{"AddressSid": cfg.AddressSID, "Identity": "hr_minimal", "PreEngagementData": "{}"})
	if first.AuthUser != cfg.APIKeySID {
		t.Errorf("authenticated as %q, want the API key", first.AuthUser)
	}
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
		status    int
		code      int
		temporary bool
		is        error
	}{
		{name: "404/unknown address", modify: func(c *flex.Config) { c.AddressSID = "IG00000000000000000000000000000000" },
			status: 404, code: 20404},
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
		}, is: context.Canceled},
		{name: "no identity", req: flex.ChatRequest{Attributes: summary()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mods []func(*flex.Config)
			if tt.modify != nil {
				mods = append(mods, tt.modify)
			}
			c, _, cfg := setup(t, tt.wrap, mods...)
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			req := tt.req
			if req.Identity == "" && req.Attributes == nil {
				req = flex.ChatRequest{Identity: "hr_err", Attributes: summary()}
			}
			start := time.Now()
			chat, err := c.OpenChat(ctx, req)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("OpenChat took %v", took)
			}
			var fe *flex.Error
			if !errors.As(err, &fe) {
				t.Fatalf("OpenChat = %+v, %v (%T); want *flex.Error", chat, err, err)
			}
			if chat != (flex.Chat{}) {
				t.Errorf("chat = %+v, want none", chat)
			}
			if fe.Op != "create web chat" || fe.Status != tt.status || fe.Code != tt.code || fe.Temporary() != tt.temporary {
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
	if len(seen) != n || len(emu.Requests()) != 3*n {
		t.Errorf("%d distinct chats, %d requests; want %d, %d", len(seen), len(emu.Requests()), n, 3*n)
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
