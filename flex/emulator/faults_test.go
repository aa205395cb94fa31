package emulator_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go/client"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

func TestFaultsThroughTwilioGo(t *testing.T) {
	emu, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	emu.InjectFault(emulator.Fault{Op: "CreateWebChannel", Status: 429, RetryAfter: 2 * time.Second, Times: 2})
	emu.InjectFault(emulator.Fault{Op: "FetchConversation", Status: 503, Times: 1})
	for i := range 2 {
		_, err := rc.FlexV2.CreateWebChannel((&webChatParams{}).web(dev.AddressSID, "hr_f"))
		var te *client.TwilioRestError
		if !errors.As(err, &te) || te.Status != 429 || te.Code != 20429 || te.MoreInfo != "https://www.twilio.com/docs/errors/20429" {
			t.Fatalf("attempt %d: err = %v, want Twilio's 429", i, err)
		}
	}
	if got := emu.Faults(); len(got) != 1 || got[0].Op != "FetchConversation" {
		t.Errorf("faults left = %+v", got)
	}
	wc, err := rc.FlexV2.CreateWebChannel((&webChatParams{}).web(dev.AddressSID, "hr_f"))
	if err != nil {
		t.Fatalf("after the burst: %v", err)
	}
	if _, err := rc.ConversationsV1.FetchConversation(*wc.ConversationSid); err == nil {
		t.Error("the 503 was not served")
	}
	if _, err := rc.ConversationsV1.FetchConversation(*wc.ConversationSid); err != nil {
		t.Errorf("after the 503: %v", err)
	}
	if len(emu.Faults()) != 0 {
		t.Errorf("faults left = %+v", emu.Faults())
	}
}

func TestFaultRetryAfterHeaderAndBody(t *testing.T) {
	emu := emulator.New(emulator.DevConfig())
	dev := emulator.DevConfig()
	emu.InjectFault(emulator.Fault{Op: "*", Status: 429, RetryAfter: 1500 * time.Millisecond, Times: 1})
	r := httptest.NewRequest(http.MethodGet, "/_twilio/conversations/v1/Conversations", nil)
	r.SetBasicAuth(dev.AccountSID, dev.AuthToken)
	w := httptest.NewRecorder()
	emu.ServeHTTP(w, r)
	if w.Code != 429 || w.Header().Get("Retry-After") != "2" {
		t.Errorf("status %d, Retry-After %q; want 429, 2 (whole seconds, rounded up)", w.Code, w.Header().Get("Retry-After"))
	}
	checkTwilioError(t, w, 429, 20429)
}

func TestFaultServiceNarrowsTheOperation(t *testing.T) {
	emu, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()
	emu.InjectFault(emulator.Fault{Op: "CreateWebChannel", Service: "conversations", Status: 500})
	if _, err := rc.FlexV2.CreateWebChannel((&webChatParams{}).web(dev.AddressSID, "hr_s")); err != nil {
		t.Errorf("a fault for another service applied: %v", err)
	}
}

func TestFaultApplyLosesTheResponse(t *testing.T) {
	emu, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()
	emu.InjectFault(emulator.Fault{Op: "CreateWebChannel", Status: 500, Apply: true, Times: 1})
	_, err := rc.FlexV2.CreateWebChannel((&webChatParams{}).web(dev.AddressSID, "hr_lost"))
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Status != 500 || te.Code != 20500 {
		t.Fatalf("err = %v, want a 500", err)
	}
	// Twilio did it all the same.
	got, err := rc.ConversationsV1.ListParticipantConversation((&conversations.ListParticipantConversationParams{}).SetIdentity("hr_lost"))
	if err != nil || len(got) != 1 {
		t.Errorf("conversations of hr_lost = %d, %v; want the one created", len(got), err)
	}
}

func TestFaultDelayOutlastsTheClient(t *testing.T) {
	emu, srv := start(t, nil)
	dev := emulator.DevConfig()
	bc, err := flex.NewBaseClient(flex.Config{AccountSID: dev.AccountSID, AuthToken: dev.AuthToken,
		BaseURL: srv.URL + "/_twilio", HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	rc := restClientOf(bc)
	emu.InjectFault(emulator.Fault{Op: "CreateWebChannel", Delay: time.Second, Apply: true, Times: 1})
	if _, err := rc.FlexV2.CreateWebChannel((&webChatParams{}).web(dev.AddressSID, "hr_slow")); err == nil {
		t.Fatal("the slow response arrived in time")
	}
	got, err := devRest(t, srv).ConversationsV1.ListParticipantConversation((&conversations.ListParticipantConversationParams{}).SetIdentity("hr_slow"))
	if err != nil || len(got) != 1 {
		t.Errorf("conversations of hr_slow = %d, %v; want the one created", len(got), err)
	}
}

func TestFaultControlEndpoint(t *testing.T) {
	emu, srv := start(t, nil)
	dev := emulator.DevConfig()
	do := func(method, body string, auth bool) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/_twilio/_emulator/faults", strings.NewReader(body))
		if auth {
			req.SetBasicAuth(dev.AccountSID, dev.AuthToken)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	if resp, _ := do("GET", "", false); resp.StatusCode != 401 {
		t.Errorf("unauthenticated: %d", resp.StatusCode)
	}
	resp, body := do("POST", `[{"op":"CreateWebChannel","status":429,"retry_after_seconds":1,"times":3},{"op":"*","delay_ms":50,"times":1}]`, true)
	if resp.StatusCode != 201 {
		t.Fatalf("POST: %d %s", resp.StatusCode, body)
	}
	var listed struct {
		Faults []map[string]any `json:"faults"`
	}
	if err := json.Unmarshal([]byte(body), &listed); err != nil || len(listed.Faults) != 2 ||
		listed.Faults[0]["op"] != "CreateWebChannel" || listed.Faults[0]["retry_after_seconds"] != 1.0 || listed.Faults[1]["delay_ms"] != 50.0 {
		t.Errorf("listed = %s", body)
	}
	if got := emu.Faults(); len(got) != 2 || got[0].RetryAfter != time.Second || got[1].Delay != 50*time.Millisecond {
		t.Errorf("Faults() = %+v", got)
	}
	for _, bad := range []string{`{"status":500}`, `{"op":"X"}`, `{"op":"X","status":200}`, `nope`} {
		if resp, body := do("POST", bad, true); resp.StatusCode != 400 {
			t.Errorf("POST %s = %d %s, want 400", bad, resp.StatusCode, body)
		}
	}
	if resp, _ := do("DELETE", "", true); resp.StatusCode != 204 || len(emu.Faults()) != 0 {
		t.Errorf("DELETE: %d, faults left %d", resp.StatusCode, len(emu.Faults()))
	}
	if len(emu.Requests()) != 0 {
		t.Errorf("the control endpoint was recorded as Twilio traffic: %d requests", len(emu.Requests()))
	}
}

func checkTwilioError(t *testing.T, w *httptest.ResponseRecorder, status, code int) {
	t.Helper()
	var body struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
		Status   int    `json:"status"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Code != code || body.Status != status || body.Message == "" ||
		body.MoreInfo == "" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("body = %s (%v), want Twilio's error %d/%d", w.Body, err, status, code)
	}
}
