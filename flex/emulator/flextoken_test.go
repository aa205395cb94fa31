package emulator_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex/emulator"
)

// The token validation endpoint as Twilio's: Basic auth, JSON body, 200 with valid=false for
// a bad token; and the control endpoint that mints the agent's token.
func TestFlexTokenValidation(t *testing.T) {
	dev := emulator.DevConfig()
	emu := emulator.New(dev)
	srv := httptest.NewServer(emu)
	defer srv.Close()
	validate := srv.URL + "/_twilio/iam/v1/Accounts/" + dev.AccountSID + "/Tokens/validate"
	call := func(url, user, pass, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var out map[string]any
		_ = json.Unmarshal(raw, &out)
		return resp.StatusCode, out
	}
	tokenBody := func(tok string) string { b, _ := json.Marshal(map[string]string{"token": tok}); return string(b) }

	status, minted := call(srv.URL+"/_twilio/_emulator/agent-token", dev.AccountSID, dev.AuthToken, "")
	tok, _ := minted["token"].(string)
	if status != http.StatusCreated || tok == "" || minted["identity"] != dev.AgentIdentity {
		t.Fatalf("mint: %d %v", status, minted)
	}
	if status, _ := call(srv.URL+"/_twilio/_emulator/agent-token", "", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("minting without credentials: %d", status)
	}

	status, out := call(validate, dev.AccountSID, dev.AuthToken, tokenBody(tok))
	if status != 200 || out["valid"] != true || out["identity"] != dev.AgentIdentity ||
		!strings.HasPrefix(out["worker_sid"].(string), "WK") || out["roles"].([]any)[0] != "agent" {
		t.Fatalf("valid token: %d %v", status, out)
	}
	if _, err := time.Parse(time.RFC3339, out["expiration"].(string)); err != nil {
		t.Fatalf("expiration %v", out["expiration"])
	}
	status, out = call(validate, dev.AccountSID, dev.AuthToken, tokenBody(emu.AgentToken(time.Now().Add(-time.Minute))))
	if status != 200 || out["valid"] != false || out["code"] != float64(20104) {
		t.Fatalf("expired token: %d %v", status, out)
	}
	other := emulator.New(emulator.Config{AccountSID: "AC" + strings.Repeat("7", 32), AuthToken: strings.Repeat("y", 32)})
	status, out = call(validate, dev.AccountSID, dev.AuthToken, tokenBody(other.AgentToken(time.Now().Add(time.Hour))))
	if status != 200 || out["valid"] != false || out["code"] != float64(20101) {
		t.Fatalf("another account's token: %d %v", status, out)
	}
	if status, _ := call(validate, "", "", tokenBody(tok)); status != http.StatusUnauthorized {
		t.Fatalf("without credentials: %d", status)
	}
	if status, _ := call(validate, dev.AccountSID, dev.AuthToken, `{}`); status != http.StatusBadRequest {
		t.Fatalf("without a token: %d", status)
	}
	foreign := srv.URL + "/_twilio/iam/v1/Accounts/AC" + strings.Repeat("7", 32) + "/Tokens/validate"
	if status, _ := call(foreign, dev.AccountSID, dev.AuthToken, tokenBody(tok)); status != http.StatusNotFound {
		t.Fatalf("another account's path: %d", status)
	}
}
