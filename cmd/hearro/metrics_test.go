package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, adminAddr string) string {
	t.Helper()
	resp, body := do(t, "GET", "http://"+adminAddr+"/metrics", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	return string(body)
}

// sample sums the values of the samples of metric name whose labels include every one of
// labels ("k", "v", …); ok is false when there is none.
func sample(body, name string, labels ...string) (sum float64, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		series, value, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(","+lbls, fmt.Sprintf(",%s=%q", labels[i], labels[i+1])) {
				match = false
			}
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		sum, ok = sum+v, true
	}
	return sum, ok
}

// waitSample polls /metrics until the sample sum is want.
func waitSample(t *testing.T, adminAddr string, want float64, name string, labels ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got, _ := sample(scrape(t, adminAddr), name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMetricsAfterVerifiedAndRejectedFlows runs one customer to a bound chat and one with a
// self-issued credential to a rejection, with CRM webhooks (the first delivery fails) and a
// tight session rate limit, then scrapes the admin listener: every family is there with the
// counts the two flows make, labelled by route patterns and codes, never by ids or DIDs.
func TestMetricsAfterVerifiedAndRejectedFlows(t *testing.T) {
	recv, endpoint := startReceiver(t)
	recv.failures = 1
	s := startTestServiceWith(t, func(c *serveConfig) {
		c.AdminAddr = "127.0.0.1:0"
		c.WebhookURLs = []string{endpoint}
		c.SessionRate, c.SessionBurst = 1, 2
	})
	recv.trustKeysOf(t, s)
	admin := s.admin.addr()
	if admin == "" || admin == s.listener.Addr().String() {
		t.Fatalf("admin listener at %q, public at %s", admin, s.listener.Addr())
	}

	// The verified flow, watched over SSE.
	good := s.createSession(t)
	_, stop := watch(t, good)
	waitSample(t, admin, 1, "hearro_sse_streams_open")
	sum, progress, err := runWallet(t, t.TempDir(), good.InvitationURL, func(w *walletConfig) {
		w.Claims = "givenName=Ada,familyName=Lovelace,memberId=M-27182"
	})
	if err != nil {
		t.Fatalf("wallet: %v\n%s", err, progress)
	}
	st := s.waitStatus(t, good, "bound")
	stop()
	waitSample(t, admin, 0, "hearro_sse_streams_open")

	// The rejected flow.
	bad := s.createSession(t)
	if _, _, err := runWallet(t, t.TempDir(), bad.InvitationURL, func(w *walletConfig) { w.SelfIssued = true }); err == nil {
		t.Fatal("the self-issued credential was accepted")
	}
	if st := s.waitStatus(t, bad, "rejected"); st.Reason != "untrusted_issuer" {
		t.Fatalf("rejected for %q", st.Reason)
	}

	// A third session is over the rate limit; a path no route matches is unmatched.
	if resp, _ := do(t, "POST", s.url+"/v1/sessions", nil, ""); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third session: %d, want 429", resp.StatusCode)
	}
	rawPath := "/no/such/thing-" + good.ID
	if resp, _ := do(t, "GET", s.url+rawPath, nil, ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET %s: %d", rawPath, resp.StatusCode)
	}

	// identity.verified, session.bound and session.rejected: queued, one retried, all delivered.
	waitSample(t, admin, 3, "hearro_webhook_deliveries_total", "step", "delivered")
	body := scrape(t, admin)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"hearro_sessions_ended_total", []string{"policy", "default", "outcome", "bound", "reason", "none"}, 1},
		{"hearro_sessions_ended_total", []string{"outcome", "rejected", "reason", "untrusted_issuer"}, 1},
		{"hearro_sessions_ended_total", nil, 2},
		{"hearro_verification_duration_seconds_count", nil, 2},
		{"hearro_verification_duration_seconds_count", []string{"result", "verified"}, 1},
		{"hearro_verification_duration_seconds_count", []string{"result", "rejected"}, 1},
		{"hearro_verification_duration_seconds_count", []string{"format", "unknown"}, 0},
		{"hearro_didcomm_messages_total", []string{"type", "didexchange/complete", "result", "accepted"}, 2},
		{"hearro_didcomm_messages_total", []string{"type", "present-proof/presentation", "result", "accepted"}, 1},
		{"hearro_didcomm_messages_total", []string{"type", "present-proof/presentation", "result", "refused"}, 1},
		{"hearro_webhook_deliveries_total", []string{"step", "queued"}, 3},
		{"hearro_webhook_deliveries_total", []string{"step", "retried"}, 1},
		{"hearro_webhook_deliveries_total", []string{"step", "dead"}, 0},
		{"hearro_twilio_retries_total", nil, 0},
		{"hearro_twilio_circuit_breaker_state", nil, 0},
		{"hearro_http_requests_total", []string{"method", "POST", "route", "/v1/sessions", "status", "201"}, 2},
		{"hearro_http_requests_total", []string{"method", "POST", "route", "/v1/sessions", "status", "429"}, 1},
		{"hearro_http_requests_total", []string{"method", "GET", "route", "unmatched", "status", "404"}, 1},
		{"hearro_http_request_duration_seconds_count", []string{"method", "POST", "route", "/v1/sessions"}, 3},
		{"hearro_rate_limited_total", []string{"route", "/v1/sessions"}, 1},
		{"hearro_sse_streams_open", nil, 0},
		{"hearro_store_errors_total", nil, 0},
		{"hearro_build_info", nil, 1},
	} {
		if got, ok := sample(body, c.name, c.labels...); !ok && c.want != 0 || got != c.want {
			t.Errorf("%s%v = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"hearro_twilio_requests_total", []string{"api", "create_web_chat"}},
		{"hearro_twilio_retries_total", []string{"api", "create_web_chat"}},
		{"hearro_http_requests_total", []string{"route", "/v1/sessions/:id"}},
		{"hearro_http_requests_total", []string{"route", "/didcomm"}},
		{"hearro_store_operation_duration_seconds_count", []string{"op", "update", "result", "ok"}},
		{"hearro_store_errors_total", []string{"op", "update"}},
		{"go_goroutines", nil},
		{"process_cpu_seconds_total", nil},
	} {
		if _, ok := sample(body, c.name, c.labels...); !ok {
			t.Errorf("no %s%v", c.name, c.labels)
		}
	}
	if n, _ := sample(body, "hearro_twilio_requests_total"); n < 1 {
		t.Errorf("hearro_twilio_requests_total = %v", n)
	}
	// No label carries an id, a DID, a pseudonym, a claim or a raw path.
	var samples []string
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, "#") {
			samples = append(samples, line)
		}
	}
	all := strings.Join(samples, "")
	for _, secret := range []string{"did:", "hr_", good.ID, bad.ID, st.IdentityID, st.Chat.ConversationSID, sum.HolderDID, "Lovelace", "M-27182", rawPath, "/no/such"} {
		if secret != "" && strings.Contains(all, secret) {
			t.Errorf("a metric carries %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// The profiler and the metrics are on the admin listener only; the public port has neither.
func TestAdminListenerOnly(t *testing.T) {
	s := startTestServiceWith(t, func(c *serveConfig) { c.AdminAddr = "127.0.0.1:0" })
	admin := "http://" + s.admin.addr()
	for _, c := range []struct {
		url  string
		want int
	}{
		{admin + "/debug/pprof/", http.StatusOK},
		{admin + "/debug/pprof/heap?debug=1", http.StatusOK},
		{admin + "/metrics", http.StatusOK},
		{admin + "/v1/sessions", http.StatusNotFound},
		{s.url + "/debug/pprof/", http.StatusNotFound},
		{s.url + "/debug/pprof/heap", http.StatusNotFound},
		{s.url + "/metrics", http.StatusNotFound},
	} {
		if resp, _ := do(t, "GET", c.url, nil, ""); resp.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, resp.StatusCode, c.want)
		}
	}
}

// Without --admin-addr nothing listens for metrics; with it, shutdown closes the listener too.
func TestAdminListenerLifecycle(t *testing.T) {
	if s := startTestService(t); s.admin != nil {
		t.Fatalf("an admin listener without --admin-addr: %s", s.admin.addr())
	}
	s := startTestServiceWith(t, func(c *serveConfig) { c.AdminAddr = "127.0.0.1:0" })
	addr := s.admin.addr()
	if err := s.shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("the admin listener %s still accepts connections after shutdown", addr)
	}
}

func TestAdminAddrValidation(t *testing.T) {
	for _, c := range []struct {
		name, addr, admin string
		ok                bool
	}{
		{"off by default", ":8080", "", true},
		{"loopback port", ":8080", "127.0.0.1:9090", true},
		{"any interface", ":8080", ":9090", true},
		{"not host:port", ":8080", "localhost", false},
		{"no port", ":8080", "127.0.0.1:", false},
		{"the public port", ":8080", ":8080", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := defaultServeConfig(t)
			if cfg.AdminAddr != "" {
				t.Fatalf("--admin-addr defaults to %q", cfg.AdminAddr)
			}
			cfg.Addr, cfg.AdminAddr = c.addr, c.admin
			err := cfg.Validate()
			if c.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "--admin-addr") {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// runHealthcheck runs `hearro healthcheck` with args and returns its output and exit code.
func runHealthcheck(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := newHealthcheckCmd()
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(t.Context())
	var ee *exitError
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ee):
		return ee.Error(), ee.code
	}
	t.Fatalf("healthcheck: %v", err)
	return "", 0
}

func TestHealthcheckCommand(t *testing.T) {
	s := startTestService(t)
	if out, code := runHealthcheck(t, "--url", s.url); code != 0 || strings.TrimSpace(out) != "ready" {
		t.Errorf("against a running service: exit %d, %q", code, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	t.Setenv("HEARRO_HEALTHCHECK_URL", closed) // the environment twin of --url
	out, code := runHealthcheck(t, "--timeout", "2s")
	if code != 1 || !strings.HasPrefix(out, "not ready: GET "+closed+"/readyz") || strings.Contains(out, "\n") {
		t.Errorf("against a closed port: exit %d, %q", code, out)
	}
	// Something that answers, but not 200 (here: nothing at …/readyz), is not ready either.
	srv := http.Server{Handler: http.NotFoundHandler()}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	if out, code := runHealthcheck(t, "--url", "http://"+ln.Addr().String()+"/elsewhere"); code != 1 || !strings.Contains(out, "404") {
		t.Errorf("against a 404: exit %d, %q", code, out)
	}
	if out, code := runHealthcheck(t, "--url", "localhost:8080"); code != 1 || !strings.Contains(out, "--url") {
		t.Errorf("a URL without scheme: exit %d, %q", code, out)
	}
}
