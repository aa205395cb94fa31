package admin_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/api/admin"
)

func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// What each meter reports lands in its family, under the labels it was given, with the
// conventions' names and types; series known in advance are there at zero.
func TestMetricsFamilies(t *testing.T) {
	m := admin.New("v1.2.3")
	m.SessionEnded("default", "bound", "")
	m.SessionEnded("default", "rejected", "untrusted_issuer")
	m.PresentationVerified("jwt", "verified", 20*time.Millisecond)
	m.WalletMessage("present-proof/presentation", "accepted")
	m.WebhookDelivery("queued")
	m.TwilioCall("create_web_chat", 201)
	m.TwilioRetry("create_web_chat")
	m.BreakerState("open")
	m.Request("GET", "/v1/sessions/:id", 200, time.Millisecond)
	m.Request("BREW", "unmatched", 404, time.Millisecond)
	m.StreamOpened()
	m.StreamOpened()
	m.StreamClosed()
	m.RateLimited("/v1/sessions")
	m.StoreOperation("update", "ok", time.Millisecond)
	m.StoreOperation("get", "error", time.Millisecond)

	code, body := scrape(t, admin.Handler(m), "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d", code)
	}
	for _, want := range []string{
		`# TYPE hearro_sessions_ended_total counter`,
		`hearro_sessions_ended_total{outcome="bound",policy="default",reason="none"} 1`,
		`hearro_sessions_ended_total{outcome="rejected",policy="default",reason="untrusted_issuer"} 1`,
		`# TYPE hearro_verification_duration_seconds histogram`,
		`hearro_verification_duration_seconds_count{format="jwt",result="verified"} 1`,
		`hearro_didcomm_messages_total{result="accepted",type="present-proof/presentation"} 1`,
		`hearro_didcomm_messages_total{result="ignored",type="didexchange/complete"} 0`,
		`hearro_webhook_deliveries_total{step="queued"} 1`,
		`hearro_webhook_deliveries_total{step="dead"} 0`,
		`hearro_twilio_requests_total{api="create_web_chat",status="201"} 1`,
		`hearro_twilio_retries_total{api="create_web_chat"} 1`,
		`hearro_twilio_circuit_breaker_state 2`,
		`hearro_http_requests_total{method="GET",route="/v1/sessions/:id",status="200"} 1`,
		`hearro_http_requests_total{method="OTHER",route="unmatched",status="404"} 1`,
		`hearro_http_request_duration_seconds_count{method="GET",route="/v1/sessions/:id"} 1`,
		`hearro_sse_streams_open 1`,
		`hearro_rate_limited_total{route="/v1/sessions"} 1`,
		`hearro_store_operation_duration_seconds_count{op="update",result="ok"} 1`,
		`hearro_store_errors_total{op="update"} 0`,
		`hearro_store_errors_total{op="get"} 1`,
		`hearro_build_info{go_version="go`,
		`version="v1.2.3"} 1`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// The breaker gauge follows the breaker through its states.
func TestBreakerState(t *testing.T) {
	m := admin.New("")
	for state, want := range map[string]string{"open": " 2\n", "half-open": " 1\n", "closed": " 0\n"} {
		m.BreakerState(state)
		_, body := scrape(t, admin.Handler(m), "/metrics")
		if !strings.Contains(body, "hearro_twilio_circuit_breaker_state"+want) {
			t.Errorf("after %s the gauge is not%s", state, want)
		}
	}
}

// The profiler is served by the admin handler, on its own mux; anything else is 404.
func TestHandlerServesPprofOnly(t *testing.T) {
	h := admin.Handler(admin.New("test"))
	if code, body := scrape(t, h, "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/: %d", code)
	}
	if code, body := scrape(t, h, "/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("GET /debug/pprof/goroutine: %d", code)
	}
	if code, _ := scrape(t, h, "/"); code != http.StatusNotFound {
		t.Errorf("GET /: %d, want 404", code)
	}
}
