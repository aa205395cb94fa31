package flex_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// A verified customer as the broker holds them: most of it must never reach
// Twilio.
var (
	holderDID  = "did:key:z6MkhHOLDERnever2reachTWILIOx9QbZ3"
	credential = `{"@context":["https://www.w3.org/2018/credentials/v1"],"type":["VerifiableCredential","VerifiedCustomer"],` +
		`"credentialSubject":{"id":"` + holderDID + `","givenName":"Ada","familyName":"Lovelace","birthDate":"1815-12-10","memberId":"MEMBER-90210"},` +
		`"proof":{"type":"Ed25519Signature2020","proofValue":"z58DAdFfa9SkqZMVPxAQpic7ndSayn1PzZs6ZjWp1CktyGesjuTSwRdoWhAfGFCF5bppETSTojQCrfFPP2oumHKtz"}}`
	claims = map[string]any{"givenName": "Ada", "familyName": "Lovelace", "birthDate": "1815-12-10", "memberId": "MEMBER-90210"}
	// The policy shows the agent the name, and nothing else.
	display = map[string]any{"givenName": "Ada", "familyName": "Lovelace"}
)

// privateValues must appear in no request to Twilio.
func privateValues(cfg flex.Config) map[string]string {
	return map[string]string{
		"holder DID":             holderDID,
		"holder DID fragment":    "HOLDERnever2reachTWILIO",
		"undisclosed birthDate":  "1815-12-10",
		"undisclosed memberId":   "MEMBER-90210",
		"credential proof":       "z58DAdFfa9SkqZMVPxAQpic7ndSayn1PzZs6ZjWp1Ckty",
		"credential type":        "VerifiableCredential",
		"auth token":             cfg.AuthToken,
		"API key secret":         cfg.APIKeySecret,
		"claim name birthDate":   "birthDate",
		"claim name memberId":    "memberId",
		"credential subject key": "credentialSubject",
	}
}

func TestPrivacyAcrossAFullSession(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c, emu, cfg, srv := setupServer(t, nil, m.modify)
			hooks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
			t.Cleanup(hooks.Close)
			emu.SetWebhooks(hooks.URL+"/v1/twilio/conversations", hooks.URL+"/v1/twilio/chat")

			// The verification summary, as the broker builds it: what was
			// verified, and the display claims only.
			sum := map[string]any{
				"verified": true, "issuer": "did:web:bank.example", "credential_type": "VerifiedCustomer",
				"verified_at": "2025-01-02T03:04:05Z", "assurance": "high", "claims": display,
			}
			req := flex.ChatRequest{Identity: "hr_PSEUDONYMABCDEFGHIJKLMNOPQRSTUV", CustomerFriendlyName: "Ada Lovelace",
				ChatFriendlyName: "Verified chat 01SESSION", Attributes: sum, IdempotencyKey: "01SESSION"}

			ctx := context.Background()
			if err := c.Check(ctx); err != nil {
				t.Fatal(err)
			}
			emu.InjectFault(emulator.Fault{Op: m.createOp, Status: 503, Times: 1}) // a retried create, too
			chat, err := c.OpenChat(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			// The customer chats with the access token, the agent answers.
			token, _, err := c.Token(req.Identity, 10*time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			messages := srv.URL + "/_twilio/conversations/v1/Conversations/" + chat.SID() + "/Messages"
			if m.name == "flexflow" {
				messages = srv.URL + "/_twilio/chat/v2/Services/" + cfg.ChatServiceSID + "/Channels/" + chat.SID() + "/Messages"
			}
			customerPost(t, messages, token, "Hello, my card is blocked")
			if err := emu.Reply(chat.SID(), "Hello Ada, let me look"); err != nil {
				t.Fatal(err)
			}
			customerPost(t, messages, token, "Thanks")
			if err := emu.CloseChat(chat.SID()); err != nil {
				t.Fatal(err)
			}
			// The customer comes back: a new session, a new chat.
			again := req
			again.IdempotencyKey, again.ChatFriendlyName = "01SESSION2", "Verified chat 01SESSION2"
			if _, err := c.OpenChat(ctx, again); err != nil {
				t.Fatal(err)
			}
			emu.Close()

			// Every request and every webhook: nothing private.
			if n := len(emu.Requests()); n < 10 {
				t.Fatalf("only %d requests recorded", n)
			}
			for _, r := range emu.Requests() {
				if r.Identity != "" && r.Identity != req.Identity {
					t.Errorf("customer call as %q", r.Identity)
				}
			}
			for _, leak := range leaks(emu, cfg) {
				t.Error(leak)
			}

			// Where the summary went, it is exactly the summary: the
			// display claims and nothing more.
			wantSum := roundTrip(t, sum)
			seen := 0
			for _, r := range emu.Requests() {
				for field, raw := range r.Form {
					var v map[string]any
					if json.Unmarshal([]byte(raw[0]), &v) != nil {
						continue
					}
					if field == "PreEngagementData" {
						seen++
						// Besides the summary: the name the agent sees and
						// the session's key, nothing else.
						if name, _ := v["friendlyName"].(string); r.Operation == "CreateWebChannel" && cfg.Mode != flex.ModeFlexFlow && name == "" {
							t.Errorf("%s %s has no friendlyName", r.Operation, field)
						}
						delete(v, "friendlyName")
						delete(v, flex.ChatKeyAttribute)
						if !reflect.DeepEqual(v, wantSum) {
							t.Errorf("%s %s = %v, want exactly the summary", r.Operation, field, v)
						}
					}
					if s, ok := v[flex.VerificationKey]; ok {
						seen++
						if !reflect.DeepEqual(s, any(wantSum)) {
							t.Errorf("%s %s.verification = %v, want exactly the summary", r.Operation, field, s)
						}
					}
				}
			}
			if seen < 3 {
				t.Errorf("the summary was sent %d times; want pre-engagement data and attributes", seen)
			}
		})
	}
}

// customerPost posts a message as the customer's chat page does.
func customerPost(t *testing.T, endpoint, token, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(url.Values{"Body": {body}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("customer post: %d", resp.StatusCode)
	}
}

// leaks scans every request the emulator received and every webhook it
// sent for the private values.
func leaks(emu *emulator.Emulator, cfg flex.Config) []string {
	var texts, found []string
	for _, r := range emu.Requests() {
		texts = append(texts, r.Path+"?"+r.Query.Encode()+"\n"+string(r.Body))
	}
	for _, d := range emu.Webhooks() {
		texts = append(texts, d.URL+"\n"+d.Form.Encode())
	}
	for _, text := range texts {
		for what, v := range privateValues(cfg) {
			if strings.Contains(text, v) || strings.Contains(text, url.QueryEscape(v)) {
				found = append(found, what+" reached Twilio in: "+text)
			}
		}
	}
	return found
}

// The scan finds what a careless caller would send: it is not vacuous.
func TestPrivacyScanIsNotVacuous(t *testing.T) {
	c, emu, cfg := setup(t, nil)
	var vc map[string]any
	if err := json.Unmarshal([]byte(credential), &vc); err != nil {
		t.Fatal(err)
	}
	careless := flex.ChatRequest{Identity: "hr_careless", Attributes: map[string]any{"holder": holderDID, "claims": claims, "vc": vc}}
	if _, err := c.OpenChat(context.Background(), careless); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(leaks(emu, cfg), "\n")
	for _, what := range []string{"holder DID", "undisclosed birthDate", "undisclosed memberId", "credential proof", "credential subject key"} {
		if !strings.Contains(got, what) {
			t.Errorf("the scan missed the %s", what)
		}
	}
}
