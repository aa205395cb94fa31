package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	chatv2 "github.com/twilio/twilio-go/rest/chat/v2"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// hook is a webhook receiver that keeps what it got.
type hook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []received
}

type received struct {
	path, signature, idempotency, contentType string
	body                                      []byte
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.got = append(h.got, received{r.URL.RequestURI(), r.Header.Get("X-Twilio-Signature"),
			r.Header.Get("I-Twilio-Idempotency-Token"), r.Header.Get("Content-Type"), b})
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) received() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]received(nil), h.got...)
}

func TestConversationWebhooks(t *testing.T) {
	emu, srv := start(t, nil)
	h := newHook(t)
	convURL := h.srv.URL + "/v1/twilio/conversations"
	emu.SetWebhooks(convURL, "")
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	a := *createChat(t, rc, "hr_w1", "W", "", "").ConversationSid
	b := *createChat(t, rc, "hr_w2", "W", "", "").ConversationSid
	c := *createChat(t, rc, "hr_w3", "W", "", "").ConversationSid

	// Through the REST API without X-Twilio-Webhook-Enabled: no webhook, as at Twilio.
	if _, err := rc.ConversationsV1.UpdateConversation(a, (&conversations.UpdateConversationParams{}).SetState("inactive")); err != nil {
		t.Fatal(err)
	}
	// With it: onConversationStateUpdated.
	if _, err := rc.ConversationsV1.UpdateConversation(a, (&conversations.UpdateConversationParams{}).
		SetState("closed").SetXTwilioWebhookEnabled("true")); err != nil {
		t.Fatal(err)
	}
	// An agent closing the chat in Flex: always.
	if err := emu.CloseChat(b); err != nil {
		t.Fatal(err)
	}
	// Deleting: onConversationRemoved.
	if err := rc.ConversationsV1.DeleteConversation(c, (&conversations.DeleteConversationParams{}).SetXTwilioWebhookEnabled("true")); err != nil {
		t.Fatal(err)
	}
	emu.Close()

	got := h.received()
	if len(got) != 3 {
		t.Fatalf("received %d webhooks, want 3", len(got))
	}
	validator := client.NewRequestValidator(dev.AuthToken)
	verifier, err := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: dev.AuthToken, PublicURL: h.srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ event, sid, state string }{
		{"onConversationStateUpdated", a, "closed"},
		{"onConversationStateUpdated", b, "closed"},
		{"onConversationRemoved", c, "closed"},
	}
	for i, r := range got {
		if !validator.ValidateBody(convURL, r.body, r.signature) {
			t.Errorf("webhook %d: twilio-go's RequestValidator rejects the signature", i)
		}
		req := httptest.NewRequest(http.MethodPost, r.path, nil)
		req.Body = io.NopCloser(bytesReader(r.body))
		req.Header.Set("Content-Type", r.contentType)
		req.Header.Set("X-Twilio-Signature", r.signature)
		req.Header.Set("I-Twilio-Idempotency-Token", r.idempotency)
		body, err := verifier.Verify(req, time.Now())
		if err != nil {
			t.Errorf("webhook %d: %v", i, err)
			continue
		}
		ev, err := flex.ParseWebhook(r.contentType, body)
		if err != nil || ev.Type != want[i].event || ev.ConversationSID != want[i].sid || ev.State != want[i].state || !ev.Closed ||
			ev.AccountSID != dev.AccountSID {
			t.Errorf("webhook %d = %+v, %v; want %+v", i, ev, err, want[i])
		}
	}
	form, _ := url.ParseQuery(string(got[0].body))
	if form.Get("StateFrom") != "inactive" || form.Get("ChatServiceSid") != dev.ConversationsServiceSID || form.Get("Reason") == "" {
		t.Errorf("onConversationStateUpdated = %v", form)
	}
	if d := emu.Webhooks(); len(d) != 3 || d[0].Status != 200 || d[0].URL != convURL {
		t.Errorf("Webhooks() = %+v", d)
	}
}

func TestChannelWebhooks(t *testing.T) {
	emu, srv := start(t, nil)
	h := newHook(t)
	emu.SetWebhooks("", h.srv.URL+"/v1/twilio/chat")
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	a := deref(createChannel(t, rc.FlexV1, "hr_c1", "C", "", "").Sid)
	b := deref(createChannel(t, rc.FlexV1, "hr_c2", "C", "", "").Sid)
	if err := emu.CloseChat(a); err != nil {
		t.Fatal(err)
	}
	if err := rc.ChatV2.DeleteChannel(dev.ChatServiceSID, b, (&chatv2.DeleteChannelParams{}).SetXTwilioWebhookEnabled("true")); err != nil {
		t.Fatal(err)
	}
	emu.Close()
	got := h.received()
	if len(got) != 2 {
		t.Fatalf("received %d webhooks, want 2", len(got))
	}
	for i, want := range []struct{ event, sid string }{{"onChannelUpdated", a}, {"onChannelDestroyed", b}} {
		ev, err := flex.ParseWebhook(got[i].contentType, got[i].body)
		if err != nil || ev.Type != want.event || ev.ChannelSID != want.sid || !ev.Closed {
			t.Errorf("webhook %d = %+v, %v; want %s of %s, closed", i, ev, err, want.event, want.sid)
		}
		validator := client.NewRequestValidator(dev.AuthToken)
		if !validator.ValidateBody(h.srv.URL+"/v1/twilio/chat", got[i].body, got[i].signature) {
			t.Errorf("webhook %d: bad signature", i)
		}
	}
	ch, err := rc.ChatV2.FetchChannel(dev.ChatServiceSID, a)
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]any
	_ = json.Unmarshal([]byte(deref(ch.Attributes)), &attrs)
	if attrs["status"] != "INACTIVE" {
		t.Errorf("closed channel attributes = %v", attrs)
	}
}

func TestWebhookDeliveryBase(t *testing.T) {
	h := newHook(t)
	cfg := emulator.DevConfig()
	cfg.ConversationsWebhookURL = "https://broker.example.com/v1/twilio/conversations"
	cfg.WebhookDeliveryBase = h.srv.URL
	emu := emulator.New(cfg)
	mux := http.NewServeMux()
	mux.Handle(emulator.PathPrefix, emu)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	sid := *createChat(t, devRest(t, srv), "hr_b", "B", "", "").ConversationSid
	if err := emu.CloseChat(sid); err != nil {
		t.Fatal(err)
	}
	emu.Close()
	got := h.received()
	if len(got) != 1 || got[0].path != "/v1/twilio/conversations" {
		t.Fatalf("received %+v", got)
	}
	validator := client.NewRequestValidator(cfg.AuthToken)
	if !validator.ValidateBody(cfg.ConversationsWebhookURL, got[0].body, got[0].signature) {
		t.Error("the signature does not cover the public URL")
	}
	if d := emu.Webhooks(); len(d) != 1 || d[0].SentTo != h.srv.URL+"/v1/twilio/conversations" {
		t.Errorf("Webhooks() = %+v", d)
	}
}

func TestSignMatchesTwilioGo(t *testing.T) {
	const token = "devAuthTokenPublicNotSecret00000"
	form := url.Values{"B": {"2"}, "A": {"1"}, "Body": {"héllo & bye"}}
	sig := emulator.Sign(token, "https://example.com/hook?x=1", form)
	v := client.NewRequestValidator(token)
	if !v.ValidateBody("https://example.com/hook?x=1", []byte(form.Encode()), sig) {
		t.Error("twilio-go rejects the emulator's signature")
	}
	if sig != flex.SignWebhook(token, "https://example.com/hook?x=1", form) {
		t.Error("emulator.Sign and flex.SignWebhook disagree")
	}
}
