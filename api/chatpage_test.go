package api_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/api/web"
)

// The chat page names its chat mode and is served with a Content-Security-Policy that lets it
// reach only its own origin — and Twilio, only when chats go to Twilio.
func TestChatPage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		twilio     http.Handler
		mode       string
		sdk        bool
		cspTwilio  bool
		emulatorAt string
	}{
		{name: "emulator/chats through the built-in emulator", twilio: http.NotFoundHandler(), mode: "emulator", emulatorAt: "/_twilio"},
		{name: "twilio/chats through Twilio's SDK", mode: "twilio", sdk: true, cspTwilio: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(newPageServer(t, tc.twilio))
			defer srv.Close()
			resp, body := get(t, srv.URL+"/", nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=UTF-8" {
				t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if !strings.Contains(body, `data-chat-mode="`+tc.mode+`"`) {
				t.Errorf("page lacks chat mode %q", tc.mode)
			}
			if got := strings.Contains(body, `data-emulator-path="`+tc.emulatorAt+`"`); got != (tc.emulatorAt != "") {
				t.Errorf("emulator path in page = %v", got)
			}
			if got := strings.Contains(body, web.TwilioSDKURL) && strings.Contains(body, web.TwilioSDKIntegrity); got != tc.sdk {
				t.Errorf("Twilio SDK named in page = %v, want %v", got, tc.sdk)
			}
			csp := resp.Header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				strings.Contains(csp, "twilio.com") != tc.cspTwilio {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "http://") {
				t.Error("the page has inline script or style, or a plain-HTTP reference")
			}

			// Every asset the page references is served, with its type, and revalidates.
			refs := regexp.MustCompile(`(?:src|href)="/assets/([^"]+)"`).FindAllStringSubmatch(body, -1)
			if len(refs) < 3 {
				t.Fatalf("the page references %d assets", len(refs))
			}
			for _, ref := range refs {
				a, ok := web.LookupAsset(ref[1])
				if !ok {
					t.Fatalf("the page references a missing asset %s", ref[1])
				}
				resp, got := get(t, srv.URL+"/assets/"+ref[1], nil)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != a.ContentType || got != string(a.Data) ||
					resp.Header.Get("X-Content-Type-Options") != "nosniff" {
					t.Errorf("GET /assets/%s: %d %s", ref[1], resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				if resp, _ := get(t, srv.URL+"/assets/"+ref[1], http.Header{"If-None-Match": {resp.Header.Get("ETag")}}); resp.StatusCode != http.StatusNotModified {
					t.Errorf("GET /assets/%s with its ETag: %d, want 304", ref[1], resp.StatusCode)
				}
			}
			for _, path := range []string{"/assets/nope.js", "/assets/..%2Fweb.go", "/assets/"} {
				if resp, _ := get(t, srv.URL+path, nil); resp.StatusCode != http.StatusNotFound {
					t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
				}
			}
		})
	}
}

func newPageServer(t *testing.T, twilio http.Handler) http.Handler {
	t.Helper()
	key, _ := api.NewSigningKey(make([]byte, 32))
	return api.New(api.Config{
		PublicURL:    "http://localhost:8080",
		DIDComm:      refuseAll{},
		Twilio:       twilio,
		AccessTokens: api.NewAccessTokens(key, "http://localhost:8080", "", nil),
	}, nil)
}

func get(t *testing.T, url string, h http.Header) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
