package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// The tests in this file run the service as it is deployed: several `hearro serve` processes
// (the real binary) on one Redis, behind a load balancer that sends each HTTP request and each
// DIDComm message to the next replica in turn, so consecutive steps of one session land on
// different replicas. They are the acceptance tests of "any instance can serve any step".

// replicaMasterKey is the agent's master key every replica of a test deployment shares.
const replicaMasterKey = "cmVwbGljYXMtc2hhcmUtb25lLW1hc3Rlci1rZXkhISE="

// replicaPrefix is the deployment's key prefix in Redis (--redis-prefix).
const replicaPrefix = "hearro-replicas"

// TestReplicas runs three `hearro serve` processes on one Redis behind a round-robin proxy.
// Each subtest has a deployment of its own (a private redis-server with AOF, one Twilio
// emulator process, three replicas); the binary is built once, into the parent's temporary
// directory, which is removed when the last subtest is done.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the replica tests (they build the binary and run Redis, a Twilio emulator and three `hearro serve` processes)")
	}
	if err := redistest.Missing(); err != nil {
		redistest.Unavailable(t, err.Error())
	}
	bin := buildHearro(t)

	t.Run("200 sessions round-robin over three replicas", func(t *testing.T) { testRoundRobin(t, bin) })
	t.Run("SIGKILL of a replica in the middle of 50 sessions", func(t *testing.T) { testReplicaKilled(t, bin) })
	t.Run("Redis stopped for 5 s and restarted", func(t *testing.T) { testRedisOutage(t, bin) })
}

// buildHearro builds the binary once per test run, for every test that runs it; TestMain
// removes it.
func buildHearro(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "hearro-test-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		bin := filepath.Join(dir, "hearro")
		out, err := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		built.bin = bin
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

// replicaSet is one test deployment: Redis, the emulator, the replicas and the proxy.
type replicaSet struct {
	bin      string
	redis    *redistest.Redis
	emulator *hearroProcess
	replicas []*hearroProcess
	lb       *roundRobin
	url      string // the load balancer's URL: the service's --public-url
}

func startReplicaSet(t *testing.T, bin string, n int) *replicaSet {
	t.Helper()
	d := &replicaSet{bin: bin}
	d.redis = redistest.Server(t, redistest.WithAOF(true))
	d.lb = newRoundRobin(t)
	d.url = d.lb.url

	d.emulator = startHearroProcess(t, bin, "emulator", []string{"emulator", "--addr", "127.0.0.1:0"}, nil, emulatorListenURL)
	for i := range n {
		p := startHearroProcess(t, bin, fmt.Sprintf("replica%d", i+1), []string{"serve"}, []string{
			"HEARRO_ADDR=127.0.0.1:0",
			"HEARRO_PUBLIC_URL=" + d.url,
			"HEARRO_REDIS_URL=" + d.redis.URL(),
			"HEARRO_REDIS_PREFIX=" + replicaPrefix,
			"HEARRO_MASTER_KEY=" + replicaMasterKey,
			"HEARRO_TWILIO_API_URL=" + d.emulator.url + "/_twilio",
			"HEARRO_SESSION_RATE=0",
			"HEARRO_DATA_DIR=" + t.TempDir(),
			"HEARRO_LOG_LEVEL=info",
		}, serveListenURL)
		d.replicas = append(d.replicas, p)
		d.lb.add(p)
	}
	return d
}

// hearroProcess is a hearro process the test started. Its stderr and stdout go to a file in the
// test's temporary directory, printed (the end, and every warning) when the test fails.
type hearroProcess struct {
	name   string
	cmd    *exec.Cmd
	log    string
	url    string // http://host:port it listens on
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// startHearroProcess starts bin with args and env (on top of the test's environment without any
// HEARRO_ variable), waits until listening finds its address in the log, and stops it when the
// test ends: SIGTERM, then SIGKILL after 15 s.
func startHearroProcess(t *testing.T, bin, name string, args, env []string, listening func(line []byte) string) *hearroProcess {
	t.Helper()
	p := &hearroProcess{name: name, log: filepath.Join(t.TempDir(), name+".log"), exited: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HEARRO_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, env...)
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.stop(t, 15*time.Second)
		if t.Failed() {
			p.dump(t)
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for p.url == "" {
		select {
		case <-p.exited:
			p.dump(t)
			t.Fatalf("%s exited at start: %v", name, p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.dump(t)
			t.Fatalf("%s did not say where it listens within 30 s", name)
		}
		b, _ := os.ReadFile(p.log)
		for line := range bytes.Lines(b) {
			if u := listening(line); u != "" {
				p.url = u
				break
			}
		}
	}
	return p
}

// serveListenURL finds the "hearro serving" log line of `hearro serve` and returns its address.
func serveListenURL(line []byte) string {
	var l struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &l) != nil || l.Msg != "hearro serving" {
		return ""
	}
	return "http://" + l.Addr
}

// emulatorListenURL finds the line `hearro emulator` prints when it listens.
func emulatorListenURL(line []byte) string {
	_, rest, ok := bytes.Cut(line, []byte("Twilio API emulator on "))
	if !ok {
		return ""
	}
	u, _, _ := strings.Cut(string(rest), "/_twilio/")
	return u
}

func (p *hearroProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits up to grace for the exit, then kills. It reports an exit
// status other than 0 unless the process was killed by the test.
func (p *hearroProcess) stop(t *testing.T, grace time.Duration) {
	t.Helper()
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("%s exited with %v after SIGTERM", p.name, p.err)
		}
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s did not stop within %s of SIGTERM; killed", p.name, grace)
	}
}

// kill ends the process at once (SIGKILL), like a node failure.
func (p *hearroProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

// dump prints the process's warnings and errors, and the end of its log.
func (p *hearroProcess) dump(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(p.log)
	if err != nil {
		t.Logf("%s: %v", p.name, err)
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var notable []string
	for _, l := range lines {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) || panicked.MatchString(l) {
			notable = append(notable, l)
		}
	}
	if len(notable) > 60 {
		notable = append(notable[:60], fmt.Sprintf("… %d more", len(notable)-60))
	}
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("── %s (%s) warnings and errors:\n%s\n── %s, last lines:\n%s", p.name, p.log,
		strings.Join(notable, "\n"), p.name, strings.Join(lines, "\n"))
}

// logMatches returns the lines of the process's log that re matches.
func (p *hearroProcess) logMatches(re *regexp.Regexp) []string {
	b, _ := os.ReadFile(p.log)
	var out []string
	for line := range strings.Lines(string(b)) {
		if re.MatchString(line) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// dieWithTest asks the kernel to kill the child when the test process dies without stopping it
// (a timeout's panic), where the platform can: Linux's parent-death signal, set by reflection
// because syscall.SysProcAttr has the field on Linux only.
func dieWithTest(cmd *exec.Cmd) {
	attr := &syscall.SysProcAttr{}
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.CanSet() {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
	cmd.SysProcAttr = attr
}

// roundRobin is the test's load balancer: an L7 reverse proxy that sends every request to the
// next live replica, so that one session's steps — its creation, the wallet's invitation
// lookup, each DIDComm message, the browser's polls — spread over all replicas.
//
// Retries. A request whose connection to a replica could not be made (connection refused: the
// replica is dead) reached nothing, so it is sent to the next replica whatever its method, and
// that replica is taken out of the rotation (a passive health check). A GET or HEAD that fails
// after it was sent is also tried on the next replica: it changes nothing. Any other request
// that fails after it was sent — a POST to a replica killed while handling it — is not
// retried, because the replica may have acted on it; the proxy drops the client's connection
// instead of inventing a response (as an L4 balancer such as a Kubernetes Service would), so
// the client sees the failure and decides, and every HTTP response a client receives is the
// service's own (which the OpenAPI validation of these tests relies on).
type roundRobin struct {
	url       string
	server    *httptest.Server
	transport *http.Transport
	proxy     *httputil.ReverseProxy

	mu       sync.Mutex
	backends []*lbBackend
	next     int

	aborted atomic.Int64 // client requests that failed after reaching a replica

	hook struct {
		sync.Mutex
		backend *hearroProcess
		route   string
		f       func()
	}

	smu      sync.Mutex
	status   map[string]map[int]int     // "METHOD /path" → status → count
	sessions map[string]map[string]bool // session ID → the replicas that served its requests
}

type lbBackend struct {
	p       *hearroProcess
	host    string
	down    atomic.Bool
	served  atomic.Int64 // requests answered
	refused atomic.Int64 // connections refused
}

func newRoundRobin(t *testing.T) *roundRobin {
	t.Helper()
	lb := &roundRobin{status: map[string]map[int]int{}, sessions: map[string]map[string]bool{}, transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}}
	lb.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "replica" // RoundTrip picks the replica
			pr.Out.Host = pr.In.Host                               // the public host, as a real balancer keeps it
			pr.SetXForwarded()
		},
		Transport: lb,
		ModifyResponse: func(resp *http.Response) error {
			lb.smu.Lock()
			defer lb.smu.Unlock()
			k := resp.Request.Method + " " + resp.Request.URL.Path
			if lb.status[k] == nil {
				lb.status[k] = map[int]int{}
			}
			lb.status[k][resp.StatusCode]++
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			lb.aborted.Add(1)
			panic(http.ErrAbortHandler) // drop the client's connection: see the type's comment
		},
	}
	lb.server = httptest.NewServer(lb.proxy)
	lb.url = lb.server.URL
	t.Cleanup(func() {
		lb.server.CloseClientConnections()
		lb.server.Close()
		lb.transport.CloseIdleConnections()
	})
	return lb
}

func (lb *roundRobin) add(p *hearroProcess) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	lb.backends = append(lb.backends, &lbBackend{p: p, host: strings.TrimPrefix(p.url, "http://")})
}

// pick returns the next live backend not in tried, or nil.
func (lb *roundRobin) pick(tried []*lbBackend) *lbBackend {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for range lb.backends {
		b := lb.backends[lb.next%len(lb.backends)]
		lb.next++
		if !b.down.Load() && !slices.Contains(tried, b) {
			return b
		}
	}
	return nil
}

// RoundTrip sends the proxied request to a replica (see roundRobin for the retries).
func (lb *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	var tried []*lbBackend
	var lastErr error = errors.New("no live replica")
	for {
		b := lb.pick(tried)
		if b == nil {
			return nil, lastErr
		}
		tried = append(tried, b)
		out := req.Clone(req.Context())
		out.URL.Host = b.host
		out.Body, out.GetBody = nil, nil
		if body != nil {
			// GetBody lets the transport resend a request that never left on a pooled
			// connection the dead replica had closed (it then dials, and is refused).
			out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			out.Body, _ = out.GetBody()
			out.ContentLength = int64(len(body))
		}
		resp, err := lb.transport.RoundTrip(out)
		if err == nil {
			b.served.Add(1)
			lb.noteSession(req, resp, b)
			if f := lb.takeHook(b.p, req.Method+" "+req.URL.Path); f != nil {
				f() // before the client has the answer
			}
			return resp, nil
		}
		lastErr = fmt.Errorf("%s: %w", b.p.name, err)
		var op *net.OpError
		switch {
		case req.Context().Err() != nil:
			return nil, err
		case errors.As(err, &op) && op.Op == "dial":
			b.refused.Add(1)
			b.down.Store(true) // nothing was sent: take it out and try the next
		case req.Method == http.MethodGet || req.Method == http.MethodHead:
			// idempotent: try the next
		default:
			return nil, lastErr
		}
	}
}

// testRoundRobin: 200 customers verify, 12 at a time, every request and DIDComm message of
// their sessions sent round-robin over three replicas; every session ends bound, and every
// identity reads the same from every replica.
func testRoundRobin(t *testing.T, bin string) {
	d := startReplicaSet(t, bin, 3)
	const sessions, parallel = 200, 12
	start := time.Now()
	customers := newReplicaCustomers(t, sessions)
	d.createSessions(t, customers, parallel)
	d.verify(customers, parallel, 30*time.Second, nil)
	var failed []string
	for _, c := range customers {
		if c.err != nil {
			failed = append(failed, c.String())
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d sessions did not end bound:\n%s", len(failed), sessions, strings.Join(failed, "\n"))
	}
	t.Logf("%d sessions bound in %s, %d at a time; %s", sessions, time.Since(start).Round(time.Millisecond), parallel, d.lb.spread())
	for _, b := range d.lb.backends {
		if n := b.served.Load(); n < int64(sessions) { // about 6 requests per session
			t.Errorf("%s served only %d requests: the steps did not spread over the replicas", b.p.name, n)
		}
	}
	if n := d.lb.aborted.Load(); n != 0 {
		t.Errorf("%d requests failed at the load balancer", n)
	}

	// Every identity, read from every replica directly (not through the balancer), is there
	// and is the same, and is the one its session's chat was opened for.
	token := d.crmToken(t, "identities:read")
	for _, c := range customers {
		var first []byte
		for _, r := range d.replicas {
			code, body := httpGetBody(t, r.url+"/v1/identities/"+c.final.IdentityID, token)
			if code != http.StatusOK {
				t.Fatalf("%s: GET identity %s of session %s: %d %s", r.name, c.final.IdentityID, c.c.ID, code, body)
			}
			if first == nil {
				first = body
				var ident identityJSON
				if err := json.Unmarshal(body, &ident); err != nil {
					t.Fatal(err)
				}
				if ident.FlexIdentity != c.final.Chat.Identity || ident.Claims["memberId"] != c.memberID() {
					t.Errorf("identity %s of session %s: %s (chat %s, member %s)", ident.ID, c.c.ID, body, c.final.Chat.Identity, c.memberID())
				}
			} else if !bytes.Equal(body, first) {
				t.Errorf("identity %s reads differently on %s:\n%s\nvs\n%s", c.final.IdentityID, r.name, body, first)
			}
		}
	}
	// And each replica lists them all.
	for _, r := range d.replicas {
		var page struct {
			Items []identityJSON `json:"items"`
		}
		code, body := httpGetBody(t, r.url+"/v1/identities?limit=200", token)
		if code != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Items) != sessions {
			t.Errorf("%s lists %d identities (%d), want %d", r.name, len(page.Items), code, sessions)
		}
	}
	// The steps of one session landed on different replicas: of the requests the balancer can
	// tell the session of (its creation, the invitation, the browser's status reads; not the
	// encrypted DIDComm messages), which replicas served them.
	spread := 0
	for _, c := range customers {
		if len(d.lb.replicasOf(c.c.ID)) >= 2 {
			spread++
		}
	}
	t.Logf("%d of %d sessions had their creation, invitation and status reads served by two or three replicas", spread, sessions)
	if spread < sessions*7/10 {
		t.Errorf("only %d of %d sessions were served by more than one replica", spread, sessions)
	}
	d.assertNoErrorsLogged(t)
}

// testReplicaKilled: 50 sessions start; their wallets run 16 at a time; when a dozen are bound,
// one replica is SIGKILLed. The sessions on the survivors complete, and the store, read
// directly, holds no half-written session: each is bound with its identity and chat, or in a
// state from which a retry completes it (shown by retrying), or rejected or expired.
func testReplicaKilled(t *testing.T, bin string) {
	d := startReplicaSet(t, bin, 3)
	victim := d.replicas[1]
	const sessions, parallel, killAfter = 50, 16, 12
	customers := newReplicaCustomers(t, sessions)
	d.createSessions(t, customers, parallel) // a third of them created by the replica that dies

	// Once a dozen sessions are bound, the victim is killed the moment it has answered its
	// next DIDComm message: what it does after answering — the DID exchange's response to the
	// wallet, the presentation request, the chat it opens for a verified session — is cut
	// short, and so is whatever else it is handling.
	var bound atomic.Int32
	var killedAt time.Time
	var victimServed int64
	killed := make(chan struct{})
	d.verify(customers, parallel, 10*time.Second, func(c *replicaCustomer) {
		if c.err == nil && bound.Add(1) == killAfter {
			d.lb.onAnswer(victim, "POST /didcomm", func() {
				victimServed = d.lb.backend(victim).served.Load()
				victim.kill()
				killedAt = time.Now()
				close(killed)
			})
		}
	})
	select {
	case <-killed:
	case <-time.After(5 * time.Second):
		t.Fatal("the replica was never killed: no DIDComm message went to it after the first sessions were bound")
	}
	t.Logf("killed %s (SIGKILL) as it answered a DIDComm message, after %d sessions were bound; %s", victim.name, killAfter, d.lb.spread())
	if b := d.lb.backend(victim); !b.down.Load() {
		t.Errorf("the balancer did not take the dead replica out of the rotation")
	} else {
		t.Logf("after the kill the dead replica answered %d requests already in flight; %d were sent to it before the balancer noticed, and went to a survivor",
			b.served.Load()-victimServed, b.refused.Load())
	}

	// Sessions whose wallets started after the kill ran on the survivors only: all complete.
	// Those in flight at the kill may have lost a step on the dead replica.
	var inFlight, after int
	for _, c := range customers {
		switch {
		case c.started.After(killedAt):
			after++
			if c.err != nil {
				t.Errorf("session started on the survivors failed: %s", c)
			}
		case c.err != nil:
			inFlight++
			if c.finished.Before(killedAt) {
				t.Errorf("session failed before the kill: %s", c)
			}
		}
	}
	t.Logf("%d wallets started after the kill (all must complete); %d in flight at the kill did not complete", after, inFlight)
	if after == 0 {
		t.Error("no wallet started after the kill: the test did not test the survivors")
	}

	// The store, read directly: every session of the deployment (including any created by a
	// POST whose answer the kill swallowed) is in a consistent state.
	ctx := context.Background()
	st, err := redisstore.Open(ctx, d.redis.URL(), redisstore.Options{Prefix: replicaPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	byID := map[string]*replicaCustomer{}
	for _, c := range customers {
		byID[c.c.ID] = c
	}
	ids := storedSessionIDs(t, st)
	if len(ids) < sessions {
		t.Fatalf("the store holds %d sessions, want at least %d", len(ids), sessions)
	}
	counts := map[broker.Status]int{}
	var retried []string
	for _, id := range ids {
		s, err := st.Session(ctx, id)
		if err != nil {
			t.Fatalf("session %s: %v", id, err)
		}
		counts[s.Status]++
		c := byID[id]
		switch s.Status {
		case broker.StatusBound:
			d.assertBound(t, st, s)
		case broker.StatusVerified:
			// The replica that verified it died before the chat was opened. The identity is
			// there; the customer's browser, polling the session, makes a survivor open it.
			assertStoredIdentity(t, st, s)
			if s.Chat != nil {
				t.Errorf("session %s is verified with a chat: %+v", id, s.Chat)
			}
			if c == nil {
				t.Errorf("verified session %s was never created by the test", id)
				continue
			}
			got, err := awaitSession(ctx, d.url, c.c, 20*time.Second, "bound")
			if err != nil {
				t.Errorf("verified session %s: the browser's polling did not bind it: %v", id, err)
				continue
			}
			c.final = got
			s, _ = st.Session(ctx, id)
			d.assertBound(t, st, s)
			retried = append(retried, "verified→bound by polling "+id)
		case broker.StatusInvited, broker.StatusConnected, broker.StatusRequested:
			// Its wallet's exchange died with the replica. The session waits and expires at
			// ExpiresAt; Redis drops it a day later.
			if s.IdentityID != "" || s.Chat != nil {
				t.Errorf("session %s is %s with an identity or a chat: %+v", id, s.Status, s)
			}
			if s.ExpiresAt.IsZero() || s.ExpiresAt.After(s.CreatedAt.Add(10*time.Minute)) {
				t.Errorf("session %s is %s and expires at %s: it would wait forever", id, s.Status, s.ExpiresAt)
			}
			if ttl, err := st.Client().PTTL(ctx, replicaPrefix+":{b}:s:"+id).Result(); err != nil || ttl <= 0 {
				t.Errorf("session %s is %s without a Redis expiry (%v %v)", id, s.Status, ttl, err)
			}
			if c == nil {
				continue // created by a POST the kill cut short: the browser never saw it
			}
			if c.err == nil {
				t.Errorf("session %s is %s although its wallet completed: %s", id, s.Status, c)
				continue
			}
			// The customer retries. An invitation not yet answered is answered again; a
			// connection whose exchange died is not resumed by the demo wallet, so the
			// customer starts a new session with the same wallet (same holder, same
			// identity).
			retry := c
			if s.Status != broker.StatusInvited {
				retry = &replicaCustomer{n: c.n, dir: c.dir}
				var err error
				if retry.c, err = d.createSession(ctx); err != nil {
					t.Errorf("retry of %s: %v", id, err)
					continue
				}
			}
			retry.err = nil
			d.verifyOne(ctx, retry, 20*time.Second)
			if retry.err != nil {
				t.Errorf("retry of %s session %s: %s", s.Status, id, retry)
				continue
			}
			retried = append(retried, fmt.Sprintf("%s→bound by the wallet's retry %s (session %s, %s)", s.Status, id, retry.c.ID, retry.finished.Sub(retry.started).Round(time.Millisecond)))
		case broker.StatusRejected, broker.StatusExpired:
			if s.Chat != nil {
				t.Errorf("session %s is %s with a chat", id, s.Status)
			}
		default:
			t.Errorf("session %s is %s", id, s.Status)
		}
	}
	t.Logf("the store after the kill: %v (%d sessions); retried: %v", counts, len(ids), retried)
	for _, r := range d.replicas {
		if r != victim && !r.running() {
			t.Errorf("%s exited: %v", r.name, r.err)
		}
	}
	d.assertNoPanic(t)
}

// testRedisOutage: Redis (the test's own, AOF on) is stopped for 5 s and started again on the
// same port. Meanwhile every request that needs it gets 503 problem+json with Retry-After,
// /readyz fails and /healthz does not, and nothing exits or panics; afterwards every session
// started before the outage completes.
func testRedisOutage(t *testing.T, bin string) {
	d := startReplicaSet(t, bin, 3)
	ctx := context.Background()
	const waiting = 6
	// One customer verified before the outage, and sessions waiting for their wallets.
	done := newReplicaCustomers(t, 1)
	d.createSessions(t, done, 1)
	d.verify(done, 1, 30*time.Second, nil)
	if done[0].err != nil {
		t.Fatal(done[0])
	}
	customers := newReplicaCustomers(t, waiting)
	d.createSessions(t, customers, waiting)
	token := d.crmToken(t, "identities:read")
	// The last one's customer scans the code during the outage: their wallet has the
	// invitation (as from a QR code) and sends its DID exchange request to /didcomm.
	scanned := customers[waiting-1]
	code, invitation, _ := httpCall(t, "GET", scanned.c.InvitationURL, "", "application/json")
	if code != http.StatusOK {
		t.Fatalf("invitation: %d %s", code, invitation)
	}

	didcommBefore := d.lb.statuses("POST /didcomm")

	if err := d.redis.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	sample := customers[0].c
	type check struct {
		name, method, url, auth string
		accept                  string
		want                    int
	}
	checks := []check{
		{"create a session", "POST", d.url + "/v1/sessions", "", "", 503},
		{"read a session", "GET", d.url + "/v1/sessions/" + sample.ID, "Bearer " + sample.SessionToken, "", 503},
		{"follow a session (SSE)", "GET", sample.EventsURL + "?token=" + sample.SessionToken, "", "", 503},
		{"read a session's invitation", "GET", sample.InvitationURL, "", "application/json", 503},
		{"read an identity (CRM)", "GET", d.url + "/v1/identities/" + done[0].final.IdentityID, token, "", 503},
		{"list identities (CRM)", "GET", d.url + "/v1/identities?limit=10", token, "", 503},
		{"identity by chat (CRM)", "GET", d.url + "/v1/identities/by-flex/" + done[0].final.Chat.Identity, token, "", 503},
		{"list connections (CRM)", "GET", d.url + "/v1/connections", token, "", 503},
	}
	for _, r := range d.replicas {
		checks = append(checks, check{r.name + " /readyz", "GET", r.url + "/readyz", "", "", 503},
			check{r.name + " /healthz", "GET", r.url + "/healthz", "", "", 200})
	}
	var scan sync.WaitGroup
	scan.Add(1)
	go func() { // the customer's wallet, during the outage
		defer scan.Done()
		c := *scanned
		c.c.InvitationURL = string(invitation)
		d.verifyOne(ctx, &c, 4*time.Second)
		if c.err == nil {
			t.Errorf("a wallet completed during the outage: %s", &c)
		}
	}()
	// Every check asked again and again, all at once, as long as another answer fits in the 5 s.
	var asked atomic.Int32
	var mu sync.Mutex
	var slowest time.Duration
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var took time.Duration
			for time.Since(stopped)+took < 5*time.Second {
				t0 := time.Now()
				code, body, h, err := httpTry(c.method, c.url, c.auth, c.accept)
				took = time.Since(t0) + 50*time.Millisecond
				asked.Add(1)
				mu.Lock()
				slowest = max(slowest, took)
				mu.Unlock()
				var p problemBody
				switch {
				case err != nil:
					t.Errorf("%s during the outage: %v", c.name, err)
				case code != c.want:
					t.Errorf("%s during the outage: %d %s, want %d", c.name, code, body, c.want)
				case c.want == 503 && (h.Get("Content-Type") != "application/problem+json" || h.Get("Retry-After") == "" ||
					json.Unmarshal(body, &p) != nil || p.Status != 503 || p.Code == ""):
					t.Errorf("%s during the outage: %d %s %s (Retry-After %q)", c.name, code, h.Get("Content-Type"), body, h.Get("Retry-After"))
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	scan.Wait()
	time.Sleep(5*time.Second - time.Since(stopped))
	didcommDuring := d.lb.statuses("POST /didcomm")
	for code, n := range didcommBefore {
		didcommDuring[code] -= n
	}
	if err := d.redis.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Redis was down for %s: %d requests (%d kinds), the slowest answered in %s; the wallet's DIDComm messages got %v",
		time.Since(stopped).Round(time.Millisecond), asked.Load(), len(checks), slowest.Round(time.Millisecond), didcommDuring)
	for code, n := range didcommDuring {
		if n > 0 && code != http.StatusServiceUnavailable {
			t.Errorf("%d DIDComm messages answered %d during the outage, want 503", n, code)
		}
	}
	if didcommDuring[http.StatusServiceUnavailable] == 0 {
		t.Error("no DIDComm message reached a replica during the outage")
	}
	for _, r := range d.replicas {
		if !r.running() {
			t.Fatalf("%s exited during the outage: %v", r.name, r.err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			code, _, _, _ := httpTry("GET", r.url+"/readyz", "", "")
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready 20 s after Redis came back: %d", r.name, code)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("every replica ready again %s after Redis was stopped", time.Since(stopped).Round(time.Millisecond))

	// Every session started before the outage completes now (the customer who scanned during
	// the outage tries again with the same wallet).
	d.verify(customers, waiting, 30*time.Second, nil)
	for _, c := range customers {
		if c.err != nil {
			t.Errorf("session started before the outage: %s", c)
		}
	}
	// The identity verified before the outage is still there, on every replica.
	for _, r := range d.replicas {
		if code, body := httpGetBody(t, r.url+"/v1/identities/"+done[0].final.IdentityID, token); code != 200 {
			t.Errorf("%s: identity verified before the outage: %d %s", r.name, code, body)
		}
	}
	d.assertNoPanic(t)
}

// replicaCustomer is one verification, as the customer's browser and phone drive it.
type replicaCustomer struct {
	n        int
	dir      string // the phone's wallet
	c        createdSession
	started  time.Time
	finished time.Time
	progress string // the wallet's steps
	final    sessionState
	err      error
}

func newReplicaCustomers(t *testing.T, n int) []*replicaCustomer {
	dir := t.TempDir()
	out := make([]*replicaCustomer, n)
	for i := range out {
		out[i] = &replicaCustomer{n: i, dir: filepath.Join(dir, fmt.Sprintf("wallet%03d", i))}
	}
	return out
}

func (c *replicaCustomer) memberID() string { return fmt.Sprintf("%05d", 10000+c.n) }

func (c *replicaCustomer) String() string {
	return fmt.Sprintf("customer %d, session %s (%s): %v\n    wallet: %s", c.n, c.c.ID, c.final.Status, c.err,
		strings.ReplaceAll(strings.TrimSpace(c.progress), "\n", "\n            "))
}

// createSessions starts a session for every customer, parallel at a time, through the balancer.
func (d *replicaSet) createSessions(t *testing.T, customers []*replicaCustomer, parallel int) {
	t.Helper()
	errs := make(chan error, len(customers))
	inParallel(customers, parallel, func(c *replicaCustomer) {
		var err error
		if c.c, err = d.createSession(context.Background()); err != nil {
			errs <- fmt.Errorf("customer %d: %w", c.n, err)
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func (d *replicaSet) createSession(ctx context.Context) (createdSession, error) {
	var c createdSession
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, d.url+"/v1/sessions", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return c, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return c, fmt.Errorf("POST /v1/sessions: %d %s", resp.StatusCode, body)
	}
	return c, json.Unmarshal(body, &c)
}

// verify runs every customer's wallet, parallel at a time, then polls the session through the
// balancer until it is bound; done (if set) sees each customer when finished.
func (d *replicaSet) verify(customers []*replicaCustomer, parallel int, timeout time.Duration, done func(*replicaCustomer)) {
	inParallel(customers, parallel, func(c *replicaCustomer) {
		d.verifyOne(context.Background(), c, timeout)
		if done != nil {
			done(c)
		}
	})
}

func (d *replicaSet) verifyOne(ctx context.Context, c *replicaCustomer, timeout time.Duration) {
	c.started = time.Now()
	defer func() { c.finished = time.Now() }()
	cfg := walletConfig{Dir: c.dir, Format: "ldp", JSON: true, Timeout: timeout, Listen: "127.0.0.1:0", Label: "replica test wallet",
		Claims: "givenName=Ada,familyName=Lovelace,memberId=" + c.memberID()}
	var out, progress bytes.Buffer
	err := runWalletAccept(ctx, cfg, c.c.InvitationURL, &out, &progress)
	c.progress = progress.String()
	if err != nil {
		c.err = fmt.Errorf("wallet: %w", err)
		c.final, _, _ = readSession(ctx, d.url, c.c)
		return
	}
	c.final, c.err = awaitSession(ctx, d.url, c.c, timeout, "bound")
	if c.err == nil && (c.final.IdentityID == "" || c.final.Chat == nil || c.final.Chat.ConversationSID == "") {
		c.err = fmt.Errorf("bound without identity or chat: %+v", c.final)
	}
}

// inParallel calls f for every item, parallel at a time, and returns when all calls have.
func inParallel[T any](items []T, parallel int, f func(T)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			f(it)
		}()
	}
	wg.Wait()
}

// readSession reads a session as its customer's browser does, with the session token.
func readSession(ctx context.Context, base string, c createdSession) (sessionState, int, error) {
	var st sessionState
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/sessions/"+c.ID, nil)
	req.Header.Set("Authorization", "Bearer "+c.SessionToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return st, resp.StatusCode, fmt.Errorf("GET /v1/sessions/%s: %d %s", c.ID, resp.StatusCode, body)
	}
	return st, resp.StatusCode, json.Unmarshal(body, &st)
}

// awaitSession polls the session (as the customer's browser does) until it is in one of want.
func awaitSession(ctx context.Context, base string, c createdSession, timeout time.Duration, want ...string) (sessionState, error) {
	deadline := time.Now().Add(timeout)
	for {
		st, _, err := readSession(ctx, base, c)
		if err == nil && slices.Contains(want, st.Status) {
			return st, nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("session %s is %s after %s, want %v", c.ID, st.Status, timeout, want)
			}
			return st, err
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// crmToken mints a CRM access token with `hearro token`, from the signing key in Redis.
func (d *replicaSet) crmToken(t *testing.T, scope string) string {
	t.Helper()
	cmd := exec.Command(d.bin, "token", "--redis-url", d.redis.URL(), "--redis-prefix", replicaPrefix,
		"--master-key", replicaMasterKey, "--public-url", d.url, "--scope", scope)
	cmd.Env = withoutHearroEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hearro token: %v: %s", err, stderr.String())
	}
	return "Bearer " + strings.TrimSpace(string(out))
}

func withoutHearroEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HEARRO_") {
			env = append(env, kv)
		}
	}
	return env
}

// assertBound checks a bound session in the store: its identity is readable and is the chat's,
// and the chat exists at "Twilio" (the emulator).
func (d *replicaSet) assertBound(t *testing.T, st *redisstore.Store, s *broker.Session) {
	t.Helper()
	ident := assertStoredIdentity(t, st, s)
	if s.Chat == nil || s.Chat.ConversationSID == "" {
		t.Errorf("session %s is bound without a chat", s.ID)
		return
	}
	if ident != nil && ident.FlexIdentity != s.Chat.Identity {
		t.Errorf("session %s: chat identity %s, identity's %s", s.ID, s.Chat.Identity, ident.FlexIdentity)
	}
	dev := emulator.DevConfig()
	req, _ := http.NewRequest(http.MethodGet, d.emulator.url+"/_twilio/conversations/v1/Conversations/"+s.Chat.ConversationSID, nil)
	req.SetBasicAuth(dev.AccountSID, dev.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("session %s: conversation %s at the emulator: %d", s.ID, s.Chat.ConversationSID, resp.StatusCode)
	}
}

// assertStoredIdentity checks that a verified or bound session's identity is in the store.
func assertStoredIdentity(t *testing.T, st *redisstore.Store, s *broker.Session) *broker.Identity {
	t.Helper()
	if s.IdentityID == "" {
		t.Errorf("session %s is %s without an identity", s.ID, s.Status)
		return nil
	}
	ident, err := st.Identity(context.Background(), s.IdentityID)
	if err != nil {
		t.Errorf("session %s is %s; its identity %s: %v", s.ID, s.Status, s.IdentityID, err)
		return nil
	}
	return ident
}

// storedSessionIDs lists every session of the deployment in Redis.
func storedSessionIDs(t *testing.T, st *redisstore.Store) []string {
	t.Helper()
	ctx := context.Background()
	prefix := replicaPrefix + ":{b}:s:"
	var ids []string
	iter := st.Client().Scan(ctx, 0, strings.ReplaceAll(prefix, "{", `\{`)+"*", 1000).Iterator()
	for iter.Next(ctx) {
		ids = append(ids, strings.TrimPrefix(iter.Val(), prefix))
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// httpGetBody GETs url with the Authorization header auth.
func httpGetBody(t *testing.T, url, auth string) (int, []byte) {
	t.Helper()
	code, body, _ := httpCall(t, http.MethodGet, url, auth, "")
	return code, body
}

// httpCall sends a request without a body and returns the response; a transport error fails
// the test.
func httpCall(t *testing.T, method, url, auth, accept string) (int, []byte, http.Header) {
	t.Helper()
	code, b, h, err := httpTry(method, url, auth, accept)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return code, b, h
}

// httpTry sends a request without a body; safe from any goroutine.
func httpTry(method, url, auth, accept string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	client := &http.Client{Timeout: 15 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, nil
}

// assertNoErrorsLogged fails on any error-level line or panic in a replica's log.
func (d *replicaSet) assertNoErrorsLogged(t *testing.T) {
	t.Helper()
	for _, r := range d.replicas {
		if lines := r.logMatches(regexp.MustCompile(`"level":"ERROR"`)); len(lines) > 0 {
			t.Errorf("%s logged %d errors, the first: %s", r.name, len(lines), lines[0])
		}
	}
	d.assertNoPanic(t)
}

// panicked matches what a Go panic, or Echo's recovery of one, writes.
var panicked = regexp.MustCompile(`(?i)\bpanic\b`)

func (d *replicaSet) assertNoPanic(t *testing.T) {
	t.Helper()
	for _, p := range append([]*hearroProcess{d.emulator}, d.replicas...) {
		if lines := p.logMatches(panicked); len(lines) > 0 {
			t.Errorf("%s panicked: %s", p.name, strings.Join(lines, "\n"))
		}
	}
}

// backend returns the balancer's backend of p.
func (lb *roundRobin) backend(p *hearroProcess) *lbBackend {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, b := range lb.backends {
		if b.p == p {
			return b
		}
	}
	return nil
}

// onAnswer arranges for f to run once, when p has answered the next request of route
// ("METHOD /path") and before the client has the answer.
func (lb *roundRobin) onAnswer(p *hearroProcess, route string, f func()) {
	lb.hook.Lock()
	defer lb.hook.Unlock()
	lb.hook.backend, lb.hook.route, lb.hook.f = p, route, f
}

func (lb *roundRobin) takeHook(p *hearroProcess, route string) func() {
	lb.hook.Lock()
	defer lb.hook.Unlock()
	if lb.hook.f == nil || lb.hook.backend != p || lb.hook.route != route {
		return nil
	}
	f := lb.hook.f
	lb.hook.f = nil
	return f
}

var sessionPath = regexp.MustCompile(`^(?:/v1/sessions|/i)/([0-9A-Z]{26})$`)

// noteSession records which replica served a request that names a session: its creation
// (the Location of the answer), its invitation and its reads.
func (lb *roundRobin) noteSession(req *http.Request, resp *http.Response, b *lbBackend) {
	p := req.URL.Path
	if req.Method == http.MethodPost && p == "/v1/sessions" {
		if u, err := resp.Location(); err == nil {
			p = u.Path
		}
	}
	m := sessionPath.FindStringSubmatch(p)
	if m == nil {
		return
	}
	lb.smu.Lock()
	defer lb.smu.Unlock()
	if lb.sessions[m[1]] == nil {
		lb.sessions[m[1]] = map[string]bool{}
	}
	lb.sessions[m[1]][b.p.name] = true
}

// replicasOf returns the replicas that served requests naming the session.
func (lb *roundRobin) replicasOf(id string) []string {
	lb.smu.Lock()
	defer lb.smu.Unlock()
	return slices.Sorted(maps.Keys(lb.sessions[id]))
}

// statuses returns the statuses the replicas answered to requests of "METHOD /path".
func (lb *roundRobin) statuses(route string) map[int]int {
	lb.smu.Lock()
	defer lb.smu.Unlock()
	return maps.Clone(lb.status[route])
}

// spread says how many requests each replica served.
func (lb *roundRobin) spread() string {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	var parts []string
	for _, b := range lb.backends {
		s := fmt.Sprintf("%s %d", b.p.name, b.served.Load())
		if b.down.Load() {
			s += " (down)"
		}
		parts = append(parts, s)
	}
	return "requests served: " + strings.Join(parts, ", ")
}
