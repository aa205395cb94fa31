package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
)

type problemBody struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

func do(t *testing.T, method, url string, header map[string]string, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestAPIErrors: every bad request gets its status and a problem+json body with a stable code.
func TestAPIErrors(t *testing.T) {
	s := startTestService(t)
	c := s.createSession(t)
	other := s.createSession(t)
	jsonCT := map[string]string{"Content-Type": "application/json"}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

	for _, tc := range []struct {
		name         string
		method, path string
		header       map[string]string
		body         string
		status       int
		code         string
	}{
		{"400/invalid JSON", "POST", "/v1/sessions", jsonCT, `{"policy":`, 400, "invalid_json"},
		{"400/unknown field", "POST", "/v1/sessions", jsonCT, `{"policy":"default","admin":true}`, 400, "invalid_json"},
		{"400/trailing data", "POST", "/v1/sessions", jsonCT, `{} {}`, 400, "invalid_json"},
		{"400/wrong type", "POST", "/v1/sessions", jsonCT, `{"policy":42}`, 400, "invalid_json"},
		{"415/not JSON", "POST", "/v1/sessions", map[string]string{"Content-Type": "text/plain"}, `policy=default`, 415, "unsupported_media_type"},
		{"413/body too large", "POST", "/v1/sessions", jsonCT, `{"policy":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "payload_too_large"},
		{"422/unknown policy", "POST", "/v1/sessions", jsonCT, `{"policy":"gold"}`, 422, "unknown_policy"},
		{"401/no token", "GET", "/v1/sessions/" + c.ID, nil, "", 401, "unauthorized"},
		{"401/garbage token", "GET", "/v1/sessions/" + c.ID, bearer("not-a-jwt"), "", 401, "invalid_token"},
		{"401/another session's token", "GET", "/v1/sessions/" + c.ID, bearer(other.SessionToken), "", 401, "invalid_token"},
		{"401/token for an unknown session", "GET", "/v1/sessions/01ARZ3NDEKTSV4RRFFQ69G5FAV", bearer(c.SessionToken), "", 401, "invalid_token"},
		{"401/events without token", "GET", "/v1/sessions/" + c.ID + "/events", nil, "", 401, "unauthorized"},
		{"404/QR of unknown session", "GET", "/v1/sessions/nope/qr.png", nil, "", 404, "not_found"},
		{"404/unknown invitation", "GET", "/i/nope", nil, "", 404, "not_found"},
		{"404/unknown identity", "GET", "/v1/identities/nope", map[string]string{"Authorization": s.crmToken(t, "identities:read")}, "", 404, "not_found"},
		{"404/unknown route", "GET", "/v1/nope", nil, "", 404, "not_found"},
		{"405/method not allowed", "DELETE", "/v1/sessions", nil, "", 405, "method_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, tc.method, s.url+tc.path, tc.header, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("content type %q", ct)
			}
			var p problemBody
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p.Code != tc.code || p.Status != tc.status || p.Type != "https://hearro.dev/problems/"+tc.code || p.RequestID == "" {
				t.Fatalf("problem %+v, want code %s", p, tc.code)
			}
		})
	}
}

func TestDIDCommEndpointRefusesBadInput(t *testing.T) {
	s := startTestService(t)
	for _, tc := range []struct {
		name   string
		ct     string
		body   string
		status int
	}{
		{"415/plain text", "text/plain", "hello", 415},
		{"400/empty", "application/didcomm-envelope-enc", "", 400},
		{"400/not an envelope (content type parameters accepted)", "application/didcomm-envelope-enc; charset=utf-8", `{"protected":"x"}`, 400},
		{"413/too large", "application/didcomm-envelope-enc", strings.Repeat("a", 2<<20), 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, "POST", s.url+"/didcomm", map[string]string{"Content-Type": tc.ct}, tc.body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
		})
	}
}

func TestInvitationLinkAndQRCodes(t *testing.T) {
	s := startTestService(t)
	c := s.createSession(t)

	resp, body := do(t, "GET", c.InvitationURL, map[string]string{"Accept": "application/json"}, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("JSON invitation: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var inv struct {
		Type     string `json:"@type"`
		Services []struct {
			ServiceEndpoint string   `json:"serviceEndpoint"`
			RecipientKeys   []string `json:"recipientKeys"`
		} `json:"services"`
		Handshake []string `json:"handshake_protocols"`
		Accept    []string `json:"accept"`
	}
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(inv.Type, "https://didcomm.org/out-of-band/") || len(inv.Services) != 1 ||
		inv.Services[0].ServiceEndpoint != s.url+"/didcomm" || len(inv.Handshake) != 1 || inv.Handshake[0] != "https://didcomm.org/didexchange/1.0" ||
		len(inv.Accept) != 1 || inv.Accept[0] != "didcomm/aip2;env=rfc19" {
		t.Fatalf("invitation %s", body)
	}

	resp, _ = do(t, "GET", c.InvitationURL, map[string]string{"Accept": "text/html"}, "")
	loc := resp.Header.Get("Location")
	oob, ok := strings.CutPrefix(loc, "didcomm://invite?oob=")
	if resp.StatusCode != http.StatusFound || !ok {
		t.Fatalf("browser: %d Location %q", resp.StatusCode, loc)
	}
	decoded, err := base64.RawURLEncoding.DecodeString(oob)
	if err != nil || !bytes.Equal(decoded, body) {
		t.Fatalf("deep link does not carry the invitation: %v", err)
	}

	resp, img := do(t, "GET", c.QRPNGURL, nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("qr.png: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := png.Decode(bytes.NewReader(img)); err != nil {
		t.Fatalf("qr.png is not a PNG: %v", err)
	}
	resp, svg := do(t, "GET", c.QRSVGURL, nil, "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Fatalf("qr.svg: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Once a wallet has used it, the link says so.
	if _, _, err := runWallet(t, t.TempDir(), c.InvitationURL, nil); err != nil {
		t.Fatal(err)
	}
	s.waitStatus(t, c, "bound")
	resp, body = do(t, "GET", c.InvitationURL, map[string]string{"Accept": "application/json"}, "")
	if resp.StatusCode != http.StatusGone || !bytes.Contains(body, []byte(`"invitation_used"`)) {
		t.Fatalf("used invitation: %d %s", resp.StatusCode, body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	s := startTestService(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := do(t, "GET", s.url+path, nil, ""); resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	s.backend.close() // the store goes away: not ready, still alive
	if resp, body := do(t, "GET", s.url+"/readyz", nil, ""); resp.StatusCode != 503 || !bytes.Contains(body, []byte(`"not_ready"`)) || resp.Header.Get("Retry-After") == "" {
		t.Errorf("readyz without a store: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "GET", s.url+"/healthz", nil, ""); resp.StatusCode != 200 {
		t.Errorf("healthz without a store: %d", resp.StatusCode)
	}
}
