package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/internal/demo/issuer"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// defaultServeConfig is the configuration `hearro serve` has with no flags and no environment.
func defaultServeConfig(t testing.TB) serveConfig {
	t.Helper()
	var cfg serveConfig
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveFlags(fs, &cfg)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testService runs the real service in-process on a loopback port.
type testService struct {
	*service
	url string
}

func startTestService(t testing.TB) *testService {
	t.Helper()
	return startTestServiceWith(t, nil)
}

// startTestServiceWith starts the service with the default configuration changed by mutate.
func startTestServiceWith(t testing.TB, mutate func(*serveConfig)) *testService {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultServeConfig(t)
	cfg.Addr, cfg.DataDir, cfg.Label = ln.Addr().String(), t.TempDir(), "HearRo test"
	cfg.SessionRate = 0 // tests start many sessions from one IP
	if mutate != nil {
		mutate(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	svc, err := startService(cfg, ln, log)
	if err != nil {
		t.Fatal(err)
	}
	go svc.serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := svc.shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &testService{service: svc, url: svc.publicURL}
}

type createdSession struct {
	ID            string    `json:"id"`
	Status        string    `json:"status"`
	InvitationURL string    `json:"invitation_url"`
	DeepLink      string    `json:"deep_link"`
	QRPNGURL      string    `json:"qr_png_url"`
	QRSVGURL      string    `json:"qr_svg_url"`
	EventsURL     string    `json:"events_url"`
	ExpiresAt     time.Time `json:"expires_at"`
	SessionToken  string    `json:"session_token"`

	ConfirmationCode string          `json:"confirmation_code"`
	Invitation       json.RawMessage `json:"invitation"`
}

type sessionState struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	IdentityID string `json:"identity_id"`
	// ConfirmationCode is what the chat page shows.
	ConfirmationCode string `json:"confirmation_code"`
	Chat             *struct {
		Token           string `json:"token"`
		Identity        string `json:"identity"`
		ConversationSID string `json:"conversation_sid"`
	} `json:"chat"`
}

func (s *testService) createSession(t testing.TB) createdSession {
	t.Helper()
	resp, err := http.Post(s.url+"/v1/sessions", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /v1/sessions: %d %s", resp.StatusCode, b)
	}
	var c createdSession
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func (s *testService) session(t testing.TB, c createdSession) sessionState {
	t.Helper()
	var st sessionState
	if code := getJSON(t, s.url+"/v1/sessions/"+c.ID, "Bearer "+c.SessionToken, &st); code != http.StatusOK {
		t.Fatalf("GET session: %d", code)
	}
	return st
}

// crmToken mints a CRM access token with scopes, as `hearro token` would.
func (s *testService) crmToken(t testing.TB, scopes ...string) string {
	t.Helper()
	tok, _, err := s.access.Mint("test-crm", scopes, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

func getJSON(t testing.TB, url, auth string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// watch collects a session's SSE events until the stream ends or stop is called.
func watch(t testing.TB, c createdSession) (events func() []broker.Event, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.EventsURL+"?token="+c.SessionToken, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, ct)
	}
	ch := make(chan broker.Event, 32)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev broker.Event
				if err := json.Unmarshal([]byte(data), &ev); err != nil {
					t.Errorf("bad event %q: %v", data, err)
				}
				ch <- ev
			}
		}
	}()
	var got []broker.Event
	return func() []broker.Event {
			for {
				select {
				case ev := <-ch:
					got = append(got, ev)
				default:
					return got
				}
			}
		}, func() {
			cancel()
			<-done
		}
}

// waitStatus polls the session until it reaches one of want (or fails after 10 s).
func (s *testService) waitStatus(t testing.TB, c createdSession, want ...string) sessionState {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.session(t, c)
		for _, w := range want {
			if st.Status == w {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is %s, want one of %v", c.ID, st.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func runWallet(t testing.TB, dir, url string, extra func(*walletConfig)) (summary walletSummary, stderr string, err error) {
	t.Helper()
	cfg := walletConfig{Dir: dir, Format: "ldp", JSON: true, Timeout: 60 * time.Second, Listen: "127.0.0.1:0", Label: "test wallet"}
	if extra != nil {
		extra(&cfg)
	}
	var out, errOut bytes.Buffer
	err = runWalletAccept(context.Background(), cfg, url, &out, &errOut)
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &summary); jerr != nil {
			t.Fatalf("wallet --json output: %v\n%s", jerr, out.String())
		}
	}
	return summary, errOut.String(), err
}

func TestEndToEndVerifiedChat(t *testing.T) {
	s := startTestService(t)
	c := s.createSession(t)
	if c.Status != "invited" || c.SessionToken == "" || !strings.HasPrefix(c.InvitationURL, s.url+"/i/") ||
		!strings.HasPrefix(c.DeepLink, "didcomm://invite?oob=") || c.ExpiresAt.IsZero() {
		t.Fatalf("unexpected session: %+v", c)
	}
	events, stopEvents := watch(t, c)
	defer stopEvents()

	sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
		w.Claims = "givenName=Ada,familyName=Lovelace,memberId=12345"
	})
	t.Logf("wallet progress:\n%s", progress)
	if err != nil {
		t.Fatalf("wallet: %v", err)
	}
	if sum.Outcome == nil || sum.Status != "acknowledged" || !sum.CredentialObtained {
		t.Fatalf("wallet summary: %+v", sum)
	}
	for _, want := range []string{"obtained a VerifiedCustomer credential", "connected", "presentation requested", "presentation sent", "verifier acknowledged"} {
		if !strings.Contains(progress, want) {
			t.Errorf("wallet progress lacks %q", want)
		}
	}

	st := s.waitStatus(t, c, "bound")
	if st.IdentityID == "" || st.Chat == nil || st.Chat.Token == "" || st.Chat.ConversationSID == "" || !strings.HasPrefix(st.Chat.Identity, "hr_") {
		t.Fatalf("bound session lacks identity or chat: %+v", st)
	}

	// One event per state change, in order.
	deadline := time.Now().Add(5 * time.Second)
	var statuses []string
	for time.Now().Before(deadline) {
		statuses = statuses[:0]
		for _, ev := range events() {
			statuses = append(statuses, string(ev.Status))
		}
		if len(statuses) > 0 && statuses[len(statuses)-1] == "bound" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, want := strings.Join(statuses, ","), "invited,connected,requested,verified,bound"; got != want {
		t.Errorf("SSE statuses %s, want %s", got, want)
	}

	// The verified identity, as the CRM reads it.
	var ident struct {
		ID             string            `json:"id"`
		FlexIdentity   string            `json:"flex_identity"`
		HolderDID      string            `json:"holder_did"`
		Issuer         string            `json:"issuer"`
		CredentialType string            `json:"credential_type"`
		Claims         map[string]string `json:"claims"`
		VerifiedAt     time.Time         `json:"verified_at"`
		ExpiresAt      *time.Time        `json:"expires_at"`
	}
	if code := getJSON(t, s.url+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), &ident); code != http.StatusOK {
		t.Fatalf("GET identity: %d", code)
	}
	if ident.Issuer != issuer.DevelopmentDID() || ident.CredentialType != "VerifiedCustomer" || ident.FlexIdentity != st.Chat.Identity ||
		ident.HolderDID != sum.HolderDID || ident.VerifiedAt.IsZero() || ident.ExpiresAt == nil ||
		ident.Claims["givenName"] != "Ada" || ident.Claims["familyName"] != "Lovelace" || ident.Claims["memberId"] != "12345" {
		t.Errorf("identity: %+v", ident)
	}

	// What the agent sees: the conversation in the emulator, read as Twilio would serve it.
	dev := emulator.DevConfig()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/_twilio/conversations/v1/Conversations/"+st.Chat.ConversationSID, nil)
	req.SetBasicAuth(dev.AccountSID, dev.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var conv struct {
		Sid        string `json:"sid"`
		Attributes string `json:"attributes"`
	}
	json.NewDecoder(resp.Body).Decode(&conv)
	resp.Body.Close()
	var attrs struct {
		Verification struct {
			Verified       bool              `json:"verified"`
			Issuer         string            `json:"issuer"`
			CredentialType string            `json:"credential_type"`
			VerifiedAt     string            `json:"verified_at"`
			Assurance      string            `json:"assurance"`
			Claims         map[string]string `json:"claims"`
		} `json:"verification"`
	}
	if err := json.Unmarshal([]byte(conv.Attributes), &attrs); err != nil {
		t.Fatalf("conversation attributes %q: %v", conv.Attributes, err)
	}
	v := attrs.Verification
	if !v.Verified || v.Issuer != issuer.DevelopmentDID() || v.CredentialType != "VerifiedCustomer" || v.VerifiedAt == "" ||
		v.Assurance != "development" || len(v.Claims) != 2 || v.Claims["givenName"] != "Ada" || v.Claims["familyName"] != "Lovelace" {
		t.Errorf("verification summary the agent sees: %+v", v)
	}

	// The agent's task: none until the customer writes; then one, made by the address's Studio
	// flow, with the customer's name and the summary (display claims only), in the verified
	// customers' queue.
	if tasks := s.tasksOf(t, st.Chat.ConversationSID); len(tasks) != 0 {
		t.Fatalf("%d tasks before the customer wrote", len(tasks))
	}
	s.customerWrites(t, st.Chat.ConversationSID, st.Chat.Token, "Hello, my card is blocked")
	s.customerWrites(t, st.Chat.ConversationSID, st.Chat.Token, "Anyone there?")
	tasks := s.tasksOf(t, st.Chat.ConversationSID)
	if len(tasks) != 1 {
		t.Fatalf("%d tasks after the customer's messages, want 1", len(tasks))
	}
	task := tasks[0]
	taskSummary, _ := json.Marshal(task.Attributes["verification"])
	var tv struct {
		Verified       bool              `json:"verified"`
		Issuer         string            `json:"issuer"`
		CredentialType string            `json:"credential_type"`
		Claims         map[string]string `json:"claims"`
	}
	_ = json.Unmarshal(taskSummary, &tv)
	if task.Attributes["name"] != "Ada Lovelace" || task.Attributes["from"] != "Ada Lovelace" || task.Attributes["channelType"] != "web" ||
		!tv.Verified || tv.Issuer != issuer.DevelopmentDID() || tv.CredentialType != "VerifiedCustomer" ||
		len(tv.Claims) != 2 || tv.Claims["givenName"] != "Ada" || tv.Claims["familyName"] != "Lovelace" ||
		task.Queue != emulator.QueueVerified || task.Workflow != dev.WorkflowSID {
		t.Errorf("the agent's task: queue %q, attributes %s", task.Queue, task.RawAttributes)
	}
	if strings.Contains(task.RawAttributes, sum.HolderDID) || strings.Contains(task.RawAttributes, "12345") {
		t.Errorf("the task carries what the policy keeps private: %s", task.RawAttributes)
	}

	// Nothing the policy keeps private ever reached "Twilio".
	assertNothingLeaked(t, s.emulator, sum.HolderDID, "12345", "memberId", "proofValue", "VerifiableCredential")
}

func assertNothingLeaked(t testing.TB, emu *emulator.Emulator, secrets ...string) {
	t.Helper()
	reqs := emu.Requests()
	if len(reqs) == 0 {
		t.Fatal("the emulator received no request")
	}
	// Everything as text: the raw body as it was sent (JSON or form-encoded), the decoded
	// form and query, the path and the Basic-auth user; and what the emulator sent back to the
	// service as Twilio's webhooks (built from what it was told).
	var texts []string
	for _, r := range reqs {
		texts = append(texts, fmt.Sprintf("%s %s?%s\n%s\n%v\n%s %s", r.Method, r.Path, r.Query.Encode(), r.Body, r.Form, r.AuthUser, r.Identity))
	}
	for _, w := range emu.Webhooks() {
		texts = append(texts, fmt.Sprintf("webhook %s\n%v", w.URL, w.Form))
	}
	pseudonymSeen := false
	for _, text := range texts {
		pseudonymSeen = pseudonymSeen || strings.Contains(text, "hr_")
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("sent %q to Twilio:\n%s", s, text)
			}
		}
	}
	if !pseudonymSeen { // the scan can see: the chat's pseudonym must be there
		t.Error("the customer's pseudonym (hr_…) is in no request: the scan is blind")
	}
}

func TestEndToEndSelfIssuedIsRejected(t *testing.T) {
	s := startTestService(t)
	c := s.createSession(t)
	events, stopEvents := watch(t, c)
	defer stopEvents()

	sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) { w.SelfIssued = true })
	t.Logf("wallet progress:\n%s", progress)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("wallet error %v, want exit status 2", err)
	}
	if sum.Outcome == nil || sum.Status != "rejected" || sum.Reason != "untrusted_issuer" {
		t.Fatalf("wallet summary: %+v", sum)
	}
	st := s.waitStatus(t, c, "rejected")
	if st.Reason != "untrusted_issuer" || st.IdentityID != "" || st.Chat != nil {
		t.Fatalf("session: %+v", st)
	}
	time.Sleep(50 * time.Millisecond) // let any (wrong) background bind run
	if n := len(s.emulator.Requests()); n != 0 {
		t.Errorf("%d requests reached Twilio for a rejected session", n)
	}
	if _, err := s.backend.store.IdentityByFlex(context.Background(), broker.Pseudonym(mustSecret(t, s), sum.HolderDID)); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("an identity was stored for the rejected holder: %v", err)
	}
	var statuses []string
	for _, ev := range events() {
		statuses = append(statuses, string(ev.Status))
	}
	if got := strings.Join(statuses, ","); got != "invited,connected,requested,rejected" {
		t.Errorf("SSE statuses %s", got)
	}
}

func mustSecret(t testing.TB, s *testService) []byte {
	t.Helper()
	k, err := s.backend.store.Secret(context.Background(), "pseudonym-key", func() ([]byte, error) { return nil, errors.New("must exist") })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestShutdownEndsEventStreams: an open SSE stream does not hold shutdown up.
func TestShutdownEndsEventStreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultServeConfig(t)
	cfg.Addr, cfg.DataDir = ln.Addr().String(), t.TempDir()
	svc, err := startService(cfg, ln, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- svc.serve() }()
	s := &testService{service: svc, url: svc.publicURL}
	c := s.createSession(t)
	_, stop := watch(t, c)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := svc.shutdown(ctx); err != nil {
		t.Fatalf("shutdown with an open event stream: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("shutdown took %s", took)
	}
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
}

// TestEndToEndFormats runs the whole flow with each credential format the demo wallet can
// present. Formats with selective disclosure reveal only what the policy asks for.
func TestEndToEndFormats(t *testing.T) {
	s := startTestService(t)
	for _, tc := range []struct {
		format    string
		selective bool
	}{{"ldp", false}, {"jwt", false}, {"bbs", true}, {"sd-jwt", true}} {
		t.Run(tc.format, func(t *testing.T) {
			c := s.createSession(t)
			sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
				w.Format = tc.format
				w.Claims = "givenName=Ada,familyName=Lovelace,memberId=12345,email=ada@example.com"
			})
			if err != nil || sum.Status != "acknowledged" {
				t.Fatalf("wallet: %v %+v\n%s", err, sum.Outcome, progress)
			}
			st := s.waitStatus(t, c, "bound")
			var ident struct {
				Claims map[string]string `json:"claims"`
			}
			getJSON(t, s.url+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), &ident)
			if ident.Claims["memberId"] != "12345" || ident.Claims["givenName"] != "Ada" {
				t.Fatalf("claims %v", ident.Claims)
			}
			if _, disclosed := ident.Claims["email"]; disclosed == tc.selective {
				t.Errorf("email disclosed = %v with selective disclosure = %v", disclosed, tc.selective)
			}

			c = s.createSession(t)
			sum, _, err = runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) { w.Format = tc.format; w.SelfIssued = true })
			if err == nil || sum.Outcome == nil || sum.Reason != "untrusted_issuer" {
				t.Fatalf("self-issued %s: %v %+v", tc.format, err, sum.Outcome)
			}
		})
	}
}

// TestEndToEndOnRedis runs the flow with the service on Redis (a private redis-server).
func TestEndToEndOnRedis(t *testing.T) {
	srv := redistest.Server(t)
	s := startTestServiceWith(t, func(c *serveConfig) {
		c.RedisURL, c.MasterKey = srv.URL(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
	})
	c := s.createSession(t)
	if _, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, nil); err != nil {
		t.Fatalf("wallet: %v\n%s", err, progress)
	}
	st := s.waitStatus(t, c, "bound")
	if code := getJSON(t, s.url+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), nil); code != 200 {
		t.Fatalf("identity: %d", code)
	}
	if entries, _ := os.ReadDir(s.cfg.DataDir); len(entries) != 0 {
		t.Errorf("on Redis, the data dir got files: %v", entries)
	}
}

// TestErasureReachesEveryReplica: two replicas on one Redis; B has the identity in memory (with
// a TTL far longer than the test), A erases it, and B answers 404 as soon as the erasure's
// notice arrives over Redis pub/sub.
func TestErasureReachesEveryReplica(t *testing.T) {
	srv := redistest.Server(t)
	replica := func(ttl time.Duration) *testService {
		return startTestServiceWith(t, func(c *serveConfig) {
			c.RedisURL, c.MasterKey = srv.URL(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
			c.IdentityCacheTTL = ttl
		})
	}
	a, b := replica(time.Second), replica(time.Minute)
	ident := a.verifyCustomer(t, "givenName=Ada,familyName=Lovelace,memberId=4242")
	read, erase := b.crmToken(t, "identities:read"), a.crmToken(t, "identities:write")
	for range 3 {
		if code := getJSON(t, b.url+"/v1/identities/"+ident.ID, read, nil); code != 200 {
			t.Fatalf("B reads the identity: %d", code)
		}
	}
	if resp, _ := do(t, "DELETE", a.url+"/v1/identities/"+ident.ID, map[string]string{"Authorization": erase}, ""); resp.StatusCode != 204 {
		t.Fatalf("A erases: %d", resp.StatusCode)
	}
	start := time.Now()
	for getJSON(t, b.url+"/v1/identities/"+ident.ID, read, nil) != 404 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("B still serves the identity A erased")
		}
		time.Sleep(time.Millisecond)
	}
	if code := getJSON(t, b.url+"/v1/identities/by-flex/"+ident.FlexIdentity, read, nil); code != 404 {
		t.Fatalf("B by pseudonym after the erasure: %d", code)
	}
	t.Logf("B stopped serving the erased identity %s after A's 204", time.Since(start).Round(time.Microsecond))
}
