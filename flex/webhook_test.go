package flex_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/hearro/trustbroker/flex"
)

const (
	hookToken  = "devAuthTokenPublicNotSecret00000"
	hookPublic = "https://broker.example.com"
	hookPath   = "/v1/twilio/conversations"
)

func closedForm(retry string) url.Values {
	return url.Values{
		"EventType":       {"onConversationStateUpdated"},
		"AccountSid":      {"ACde000000000000000000000000000001"},
		"ConversationSid": {"CH00000000000000000000000000000001"},
		"StateFrom":       {"active"},
		"StateTo":         {"closed"},
		"RetryCount":      {retry},
	}
}

// delivery is a webhook request as it reaches the service behind its proxy.
type delivery struct {
	target      string // path and query as received
	contentType string
	body        string
	signature   string
	idempotency string
}

func (d delivery) request() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://10.1.2.3:8080"+d.target, strings.NewReader(d.body))
	if d.contentType != "" {
		r.Header.Set("Content-Type", d.contentType)
	}
	if d.signature != "" {
		r.Header.Set(flex.SignatureHeader, d.signature)
	}
	if d.idempotency != "" {
		r.Header.Set(flex.IdempotencyTokenHeader, d.idempotency)
	}
	return r
}

// formDelivery is a form webhook signed for public URL base+hookPath.
func formDelivery(base string, form url.Values, idem string) delivery {
	return delivery{target: hookPath, contentType: "application/x-www-form-urlencoded", body: form.Encode(),
		signature: flex.SignWebhook(hookToken, base+hookPath, form), idempotency: idem}
}

func newVerifier(t testing.TB) *flex.WebhookVerifier {
	t.Helper()
	v, err := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: hookToken, PublicURL: hookPublic})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestWebhookVerify(t *testing.T) {
	jsonBody := []byte(`{"EventType":"onConversationStateUpdated","ConversationSid":"CH00000000000000000000000000000001","StateTo":"closed"}`)
	signedJSON, jsonSig := flex.SignWebhookJSON(hookToken, hookPublic+hookPath, jsonBody)
	jsonTarget := strings.TrimPrefix(signedJSON, hookPublic)

	repeated := closedForm("0")
	repeated["Extra"] = []string{"b", "a"}
	genuine := formDelivery(hookPublic, closedForm("0"), "t-genuine")
	appended := genuine
	appended.body += "&StateTo=active" // a value added after Twilio signed

	tests := []struct {
		name   string
		d      delivery
		reason string // "" accepted
	}{
		{"accepted/form behind a proxy", formDelivery(hookPublic, closedForm("0"), "t1"), ""},
		{"accepted/public URL with the default port", formDelivery("https://broker.example.com:443", closedForm("0"), "t2"), ""},
		{"accepted/JSON with bodySHA256", delivery{target: jsonTarget, contentType: "application/json", body: string(jsonBody), signature: jsonSig, idempotency: "t3"}, ""},
		{"accepted/repeated field signed with all its values", formDelivery(hookPublic, repeated, "t4"), ""},
		{"rejected/missing signature", delivery{target: hookPath, contentType: "application/x-www-form-urlencoded", body: closedForm("0").Encode()}, "missing_signature"},
		{"rejected/wrong signature", func() delivery {
			d := formDelivery(hookPublic, closedForm("0"), "t5")
			d.signature = flex.SignWebhook("wrongAuthToken000000000000000000", hookPublic+hookPath, closedForm("0"))
			return d
		}(), "bad_signature"},
		{"rejected/signed for another URL", formDelivery("https://other.example.com", closedForm("0"), "t6"), "bad_signature"},
		{"rejected/signed for the internal URL", formDelivery("http://10.1.2.3:8080", closedForm("0"), "t7"), "bad_signature"},
		{"rejected/body changed", func() delivery {
			d := formDelivery(hookPublic, closedForm("0"), "t8")
			d.body = strings.Replace(d.body, "closed", "active", 1)
			return d
		}(), "bad_signature"},
		{"rejected/value appended to a repeated field", appended, "bad_signature"},
		{"rejected/JSON body changed", delivery{target: jsonTarget, contentType: "application/json",
			body: strings.Replace(string(jsonBody), "closed", "active", 1), signature: jsonSig}, "bad_signature"},
		{"rejected/JSON without bodySHA256", delivery{target: hookPath, contentType: "application/json", body: string(jsonBody),
			signature: flex.SignWebhook(hookToken, hookPublic+hookPath, nil)}, "bad_signature"},
		{"rejected/body too large", delivery{target: hookPath, contentType: "application/x-www-form-urlencoded",
			body: strings.Repeat("a", flex.MaxWebhookBody+1), signature: "x"}, "unreadable_body"},
	}
	v := newVerifier(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.d.request()
			body, err := v.Verify(r, time.Now())
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				if string(body) != tt.d.body {
					t.Errorf("body = %q", body)
				}
				return
			}
			var we *flex.WebhookError
			if !errors.As(err, &we) || we.Reason != tt.reason || !errors.Is(err, flex.ErrWebhookRejected) {
				t.Errorf("Verify = %v, want rejected: %s", err, tt.reason)
			}
		})
	}

	// The trap: twilio-go's own validator signs only the first value of a
	// repeated field, so it takes the tampered request.
	rv := client.NewRequestValidator(hookToken)
	if !rv.ValidateBody(hookPublic+hookPath, []byte(appended.body), appended.signature) {
		t.Error("twilio-go's ValidateBody refuses the appended value: the trap Verify guards against is gone; revisit signingParams")
	}
}

func TestWebhookReplay(t *testing.T) {
	v := newVerifier(t)
	now := time.Now()
	first := formDelivery(hookPublic, closedForm("0"), "idem-1")
	if _, err := v.Verify(first.request(), now); err != nil {
		t.Fatal(err)
	}
	var we *flex.WebhookError
	if _, err := v.Verify(first.request(), now.Add(time.Minute)); !errors.As(err, &we) || we.Reason != "replayed" {
		t.Errorf("the same delivery again = %v, want replayed", err)
	}
	// Twilio's own retry: same idempotency token, RetryCount incremented,
	// hence a new signature. Not a replay.
	if _, err := v.Verify(formDelivery(hookPublic, closedForm("1"), "idem-1").request(), now.Add(time.Minute)); err != nil {
		t.Errorf("Twilio's retry = %v", err)
	}
	// A replay without the idempotency header is still caught.
	bare := formDelivery(hookPublic, closedForm("2"), "")
	if _, err := v.Verify(bare.request(), now); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(bare.request(), now); !errors.As(err, &we) || we.Reason != "replayed" {
		t.Errorf("replay without token = %v", err)
	}
	// After the window, a delivery is forgotten.
	if _, err := v.Verify(first.request(), now.Add(time.Hour)); err != nil {
		t.Errorf("after the window = %v", err)
	}
}

// TestReplayedWebhookWithNewIdempotencyTokenIsRefused: an attacker who
// captured a genuine delivery resends it with only I-Twilio-Idempotency-Token
// changed. The header is not covered by X-Twilio-Signature, so it must not
// make the delivery new: form and JSON webhooks, with a token changed, added
// or removed.
func TestReplayedWebhookWithNewIdempotencyTokenIsRefused(t *testing.T) {
	jsonBody := []byte(`{"EventType":"onConversationStateUpdated","ConversationSid":"CH00000000000000000000000000000001","StateTo":"closed"}`)
	signedJSON, jsonSig := flex.SignWebhookJSON(hookToken, hookPublic+hookPath, jsonBody)
	jsonCaptured := delivery{target: strings.TrimPrefix(signedJSON, hookPublic), contentType: "application/json",
		body: string(jsonBody), signature: jsonSig, idempotency: "idem-json"}
	for _, tt := range []struct {
		name     string
		captured delivery
		replayed []string // the idempotency tokens the attacker sends
	}{
		{"form/new token", formDelivery(hookPublic, closedForm("0"), "idem-captured"), []string{"idem-attacker"}},
		{"form/token removed, then another", formDelivery(hookPublic, closedForm("0"), "idem-captured"), []string{"", "idem-2", "idem-3"}},
		{"form/token added", formDelivery(hookPublic, closedForm("0"), ""), []string{"idem-new"}},
		{"JSON/new token", jsonCaptured, []string{"idem-attacker"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v := newVerifier(t)
			now := time.Now()
			if _, err := v.Verify(tt.captured.request(), now); err != nil {
				t.Fatalf("the genuine delivery = %v", err)
			}
			for i, token := range tt.replayed {
				replay := tt.captured
				replay.idempotency = token
				_, err := v.Verify(replay.request(), now.Add(time.Duration(i+1)*time.Second))
				var we *flex.WebhookError
				if !errors.As(err, &we) || we.Reason != "replayed" {
					t.Errorf("replay with idempotency token %q = %v, want rejected: replayed", token, err)
				}
			}
		})
	}
}

// sharedGuard is a ReplayGuard shared by instances, like one on Redis.
// While down is set it fails, like a guard whose store is unreachable.
type sharedGuard struct {
	mu   sync.Mutex
	seen map[string]bool
	down bool
}

var errGuardDown = errors.New("guard store unreachable")

func (g *sharedGuard) FirstSeen(_ context.Context, key string, _ time.Time, _ time.Duration) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return false, errGuardDown
	}
	if g.seen[key] {
		return false, nil
	}
	g.seen[key] = true
	return true, nil
}

func (g *sharedGuard) Forget(_ context.Context, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return errGuardDown
	}
	delete(g.seen, key)
	return nil
}

func TestWebhookReplayAcrossInstances(t *testing.T) {
	guard := &sharedGuard{seen: map[string]bool{}}
	a, _ := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: hookToken, PublicURL: hookPublic, Replay: guard})
	b, _ := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: hookToken, PublicURL: hookPublic, Replay: guard})
	d := formDelivery(hookPublic, closedForm("0"), "x")
	if _, err := a.Verify(d.request(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Verify(d.request(), time.Now()); !errors.Is(err, flex.ErrWebhookDuplicate) || errors.Is(err, flex.ErrWebhookRejected) {
		t.Errorf("replay to the other instance = %v, want a duplicate", err)
	}
}

// A guard that cannot tell makes Verify say so (503, Twilio retries); a
// delivery released after failed processing is accepted again.
func TestWebhookGuardDownAndRelease(t *testing.T) {
	guard := &sharedGuard{seen: map[string]bool{}}
	v, _ := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: hookToken, PublicURL: hookPublic, Replay: guard})
	d := formDelivery(hookPublic, closedForm("0"), "x")

	guard.down = true
	_, err := v.Verify(d.request(), time.Now())
	var we *flex.WebhookError
	if !errors.Is(err, flex.ErrWebhookUnavailable) || errors.Is(err, flex.ErrWebhookRejected) ||
		!errors.Is(err, errGuardDown) || !errors.As(err, &we) || we.Reason != "guard_unavailable" {
		t.Fatalf("guard down: %v, want unavailable", err)
	}
	guard.down = false
	if _, err := v.Verify(d.request(), time.Now()); err != nil {
		t.Fatalf("once the guard is back: %v", err)
	}
	if err := v.Release(d.request()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(d.request(), time.Now()); err != nil {
		t.Fatalf("after release: %v, want accepted", err)
	}
	if _, err := v.Verify(d.request(), time.Now()); !errors.Is(err, flex.ErrWebhookDuplicate) {
		t.Fatalf("again: %v, want a duplicate", err)
	}
}

func TestNewWebhookVerifierRejects(t *testing.T) {
	for name, cfg := range map[string]flex.WebhookConfig{
		"no auth token":     {PublicURL: hookPublic},
		"bad auth token":    {AuthToken: "short", PublicURL: hookPublic},
		"no public URL":     {AuthToken: hookToken},
		"relative URL":      {AuthToken: hookToken, PublicURL: "/v1"},
		"URL with a query":  {AuthToken: hookToken, PublicURL: hookPublic + "?a=b"},
		"not http or https": {AuthToken: hookToken, PublicURL: "ftp://broker.example.com"},
	} {
		if _, err := flex.NewWebhookVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), hookToken) {
			t.Errorf("%s: the error shows the auth token", name)
		}
	}
}

func TestParseWebhook(t *testing.T) {
	const ch = "CH00000000000000000000000000000001"
	form := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	tests := []struct {
		name, contentType, body string
		want                    flex.WebhookEvent
		bad                     bool
	}{
		{"conversation closed", "application/x-www-form-urlencoded", form("EventType", "onConversationStateUpdated", "ConversationSid", ch, "StateFrom", "active", "StateTo", "closed"),
			flex.WebhookEvent{Type: "onConversationStateUpdated", ConversationSID: ch, State: "closed", Closed: true}, false},
		{"conversation inactive", "application/x-www-form-urlencoded", form("EventType", "onConversationStateUpdated", "ConversationSid", ch, "StateTo", "inactive"),
			flex.WebhookEvent{Type: "onConversationStateUpdated", ConversationSID: ch, State: "inactive"}, false},
		{"conversation updated, closed", "", form("EventType", "onConversationUpdated", "ConversationSid", ch, "State", "closed"),
			flex.WebhookEvent{Type: "onConversationUpdated", ConversationSID: ch, State: "closed", Closed: true}, false},
		{"conversation removed", "application/x-www-form-urlencoded", form("EventType", "onConversationRemoved", "ConversationSid", ch, "State", "active"),
			flex.WebhookEvent{Type: "onConversationRemoved", ConversationSID: ch, State: "closed", Closed: true}, false},
		{"channel inactive", "application/x-www-form-urlencoded", form("EventType", "onChannelUpdated", "ChannelSid", ch, "Attributes", `{"status":"INACTIVE"}`),
			flex.WebhookEvent{Type: "onChannelUpdated", ChannelSID: ch, State: "closed", Closed: true}, false},
		{"channel active", "application/x-www-form-urlencoded", form("EventType", "onChannelUpdated", "ChannelSid", ch, "Attributes", `{"status":"ACTIVE"}`),
			flex.WebhookEvent{Type: "onChannelUpdated", ChannelSID: ch, State: "active"}, false},
		{"channel destroyed", "application/x-www-form-urlencoded", form("EventType", "onChannelDestroyed", "ChannelSid", ch),
			flex.WebhookEvent{Type: "onChannelDestroyed", ChannelSID: ch, State: "closed", Closed: true}, false},
		{"JSON, attributes as an object", "application/json", `{"EventType":"onChannelUpdated","ChannelSid":"` + ch + `","Attributes":{"status":"INACTIVE"},"AccountSid":"AC1"}`,
			flex.WebhookEvent{Type: "onChannelUpdated", ChannelSID: ch, State: "closed", Closed: true, AccountSID: "AC1"}, false},
		{"another event passes", "application/x-www-form-urlencoded", form("EventType", "onMessageAdded", "ConversationSid", ch, "Body", "hi"),
			flex.WebhookEvent{Type: "onMessageAdded"}, false},
		{"no event type", "application/x-www-form-urlencoded", form("ConversationSid", ch), flex.WebhookEvent{}, true},
		{"no conversation", "application/x-www-form-urlencoded", form("EventType", "onConversationStateUpdated", "StateTo", "closed"), flex.WebhookEvent{}, true},
		{"malformed SID", "application/x-www-form-urlencoded", form("EventType", "onChannelDestroyed", "ChannelSid", "CHnope"), flex.WebhookEvent{}, true},
		{"repeated parameter", "application/x-www-form-urlencoded", form("EventType", "onConversationStateUpdated", "ConversationSid", ch, "StateTo", "active", "StateTo", "closed"), flex.WebhookEvent{}, true},
		{"channel attributes not JSON", "application/x-www-form-urlencoded", form("EventType", "onChannelUpdated", "ChannelSid", ch, "Attributes", "{"), flex.WebhookEvent{}, true},
		{"JSON not an object", "application/json", `[1]`, flex.WebhookEvent{}, true},
		{"XML", "text/xml", `<x/>`, flex.WebhookEvent{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := flex.ParseWebhook(tt.contentType, []byte(tt.body))
			if tt.bad {
				if !errors.Is(err, flex.ErrWebhookPayload) {
					t.Errorf("ParseWebhook = %+v, %v; want ErrWebhookPayload", got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseWebhook = %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

// FuzzParseWebhook: whatever the body, ParseWebhook returns an event or
// ErrWebhookPayload, and a closed chat event always names a well-formed SID.
func FuzzParseWebhook(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "EventType=onConversationStateUpdated&ConversationSid=CH00000000000000000000000000000001&StateTo=closed")
	f.Add("application/x-www-form-urlencoded", "EventType=onChannelUpdated&ChannelSid=CH00000000000000000000000000000001&Attributes=%7B%22status%22%3A%22INACTIVE%22%7D")
	f.Add("application/json", `{"EventType":"onConversationRemoved","ConversationSid":"CH00000000000000000000000000000001"}`)
	f.Add("", "%zz")
	f.Add("application/json", `{"EventType":1}`)
	f.Fuzz(func(t *testing.T, contentType, body string) {
		ev, err := flex.ParseWebhook(contentType, []byte(body))
		if err != nil {
			if !errors.Is(err, flex.ErrWebhookPayload) {
				t.Fatalf("error %v is not ErrWebhookPayload", err)
			}
			return
		}
		if ev.Type == "" {
			t.Fatal("an event without a type")
		}
		if ev.Closed {
			sid := ev.ChatSID()
			if len(sid) != 34 || !strings.HasPrefix(sid, "CH") {
				t.Fatalf("closed event with SID %q", sid)
			}
		}
	})
}

// FuzzWebhookVerify: no request crashes Verify, and nothing it accepts
// lacks a valid signature.
func FuzzWebhookVerify(f *testing.F) {
	f.Add(hookPath, "application/x-www-form-urlencoded", closedForm("0").Encode(), flex.SignWebhook(hookToken, hookPublic+hookPath, closedForm("0")))
	f.Add(hookPath+"?bodySHA256=00", "application/json", "{}", "sig")
	f.Add("/", "", "", "")
	v := newVerifier(f)
	f.Fuzz(func(t *testing.T, target, contentType, body, signature string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n#") {
			return
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return
		}
		r := httptest.NewRequest(http.MethodPost, "http://internal"+target, strings.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Header.Set(flex.SignatureHeader, signature)
		if _, err := v.Verify(r, time.Now()); err == nil {
			form, _ := url.ParseQuery(body)
			if signature != flex.SignWebhook(hookToken, hookPublic+r.URL.RequestURI(), form) &&
				!strings.Contains(target, "bodySHA256") && signature != flex.SignWebhook(hookToken, hookPublic+r.URL.RequestURI(), nil) {
				t.Fatalf("accepted %q %q with signature %q", target, body, signature)
			}
		} else if !errors.Is(err, flex.ErrWebhookRejected) {
			t.Fatalf("error %v is not ErrWebhookRejected", err)
		}
	})
}
