package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/broker/storetest"
	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/internal/demo/wallet"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// The tests in this file run the service on Redis in-process: one or two `hearro serve`
// instances (startTestServiceWith) sharing one Redis — a private redis-server or a three-node
// Redis Cluster from redistest — one key prefix, one master key, one public URL and one Twilio
// emulator, as replicas of one deployment do. replicas_test.go does the same with processes.

// redisTestMasterKey is the --master-key of every instance these tests start on Redis.
const redisTestMasterKey = "cmVkaXMtdGVzdHMtc2hhcmUtdGhpcy1tYXN0ZXItayE="

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// sharedEmulator is a Twilio API emulator every instance of a test deployment talks to (as
// `hearro emulator` is for replicas): a chat opened by one instance is known to the others.
// Its base is what --twilio-api-url takes.
func sharedEmulator(tb testing.TB) (emu *emulator.Emulator, base string) {
	tb.Helper()
	emu = emulator.New(emulator.DevConfig())
	srv := httptest.NewServer(emu)
	tb.Cleanup(srv.Close)
	return emu, srv.URL + "/_twilio"
}

// redisDeployment is what the instances of one test deployment share.
type redisDeployment struct {
	redisURL, prefix string
	twilioURL        string // --twilio-api-url: the shared emulator
	publicURL        string // --public-url; empty: the first instance's own URL
}

// start starts an instance of the deployment; mutate (if set) changes its configuration further.
func (d *redisDeployment) start(tb testing.TB, mutate func(*serveConfig)) *testService {
	tb.Helper()
	s := startTestServiceWith(tb, func(c *serveConfig) {
		c.RedisURL, c.RedisPrefix, c.MasterKey = d.redisURL, d.prefix, redisTestMasterKey
		c.TwilioAPIURL, c.PublicURL = d.twilioURL, d.publicURL
		if mutate != nil {
			mutate(c)
		}
	})
	if d.publicURL == "" {
		d.publicURL = s.url
	}
	return s
}

// direct is the instance's own address, bypassing the deployment's public URL.
func (s *testService) direct() string { return loopbackURL(s.listener) }

// waitReady waits until the instance answers /readyz with 200: its store answers and its
// subscription to the deployment's events is confirmed.
func waitReady(tb testing.TB, base string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s is not ready after 10 s: %v", base, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestEndToEndOnRedisCluster: the service on a real three-node Redis Cluster (three
// redis-server --cluster-enabled yes processes, every slot assigned) completes whole sessions
// to `bound`: the wallet is acknowledged, the CRM reads the identity, the browser has its chat
// token and can refresh it. First one instance, then two instances of one deployment behind a
// round-robin balancer, so that one session's requests and DIDComm messages alternate between
// them.
func TestEndToEndOnRedisCluster(t *testing.T) {
	cluster := redistest.Cluster(t, 3)
	emu, twilioURL := sharedEmulator(t)

	t.Run("one instance", func(t *testing.T) {
		d := &redisDeployment{redisURL: cluster.URL(), prefix: "hearro-cluster-" + randomHex(4), twilioURL: twilioURL}
		s := d.start(t, nil)
		for i := range 2 {
			clusterSession(t, s.url, s, fmt.Sprintf("C1-%d-%s", i, randomHex(4)))
		}
		// The deployment's keys are in the cluster under its prefix, spread over its nodes (the
		// agent's shards each have a hash tag of their own), and the data dir stayed empty.
		perNode := clusterKeysPerNode(t, cluster, d.prefix)
		spread := 0
		for _, n := range perNode {
			if n > 0 {
				spread++
			}
		}
		if spread < 2 {
			t.Errorf("keys under %s: %v per node, want them on at least two of the three nodes", d.prefix, perNode)
		}
		t.Logf("keys under %s per cluster node: %v", d.prefix, perNode)
	})

	t.Run("two instances, round-robin", func(t *testing.T) {
		lb := newRoundRobin(t)
		d := &redisDeployment{redisURL: cluster.URL(), prefix: "hearro-cluster-" + randomHex(4), twilioURL: twilioURL, publicURL: lb.url}
		a, b := d.start(t, nil), d.start(t, nil)
		pa, pb := &hearroProcess{name: "A", url: a.direct()}, &hearroProcess{name: "B", url: b.direct()}
		lb.add(pa)
		lb.add(pb)
		waitReady(t, pa.url)
		waitReady(t, pb.url)
		spanned := 0
		for i := range 3 {
			id := clusterSession(t, lb.url, a, fmt.Sprintf("C2-%d-%s", i, randomHex(4)))
			if len(lb.replicasOf(id)) == 2 {
				spanned++
			}
		}
		if spanned == 0 {
			t.Errorf("no session was served by both instances: %s", lb.spread())
		}
		if a := lb.backend(pa).served.Load(); a == 0 || lb.backend(pb).served.Load() == 0 {
			t.Errorf("an instance served nothing: %s", lb.spread())
		}
		t.Logf("%d of 3 sessions had requests on both instances; %s", spanned, lb.spread())
	})

	if n := createdChats(emu); n != 5 {
		t.Errorf("the emulator opened %d chats for 5 bound sessions", n)
	}
}

// clusterSession runs one customer (memberId member) through a session at base (the
// deployment's public URL) to bound, and checks what the wallet, the browser and the CRM see;
// s mints the CRM token (any instance can: the signing key is shared). It returns the session ID.
func clusterSession(t *testing.T, base string, s *testService, member string) string {
	t.Helper()
	c := createSessionAt(t, base)
	sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
		w.Claims = "givenName=Ada,familyName=Lovelace,memberId=" + member
	})
	if err != nil || sum.Outcome == nil || sum.Status != "acknowledged" {
		t.Fatalf("wallet: %v %+v\n%s", err, sum.Outcome, progress)
	}
	st, err := awaitSession(context.Background(), base, c, 10*time.Second, "bound")
	if err != nil {
		t.Fatal(err)
	}
	if st.IdentityID == "" || st.Chat == nil || st.Chat.Token == "" || st.Chat.ConversationSID == "" || !strings.HasPrefix(st.Chat.Identity, "hr_") {
		t.Fatalf("bound session lacks identity or chat: %+v", st)
	}
	var ident identityJSON
	if code := getJSON(t, base+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), &ident); code != http.StatusOK {
		t.Fatalf("GET identity: %d", code)
	}
	if ident.HolderDID != sum.HolderDID || ident.FlexIdentity != st.Chat.Identity || ident.Claims["memberId"] != member || ident.ConnectionID == "" {
		t.Fatalf("identity %+v, want holder %s, pseudonym %s, memberId %s", ident, sum.HolderDID, st.Chat.Identity, member)
	}
	resp, body := do(t, "POST", base+"/v1/sessions/"+c.ID+"/chat-token", map[string]string{"Authorization": "Bearer " + c.SessionToken}, "")
	var chat struct {
		Token    string `json:"token"`
		Identity string `json:"identity"`
	}
	_ = json.Unmarshal(body, &chat)
	if resp.StatusCode != http.StatusOK || chat.Token == "" || chat.Identity != st.Chat.Identity {
		t.Fatalf("chat token refresh: %d %s", resp.StatusCode, body)
	}
	return c.ID
}

// createSessionAt starts a session as the customer's browser does, at base.
func createSessionAt(t testing.TB, base string) createdSession {
	t.Helper()
	resp, err := http.Post(base+"/v1/sessions", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var c createdSession
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &c) != nil {
		t.Fatalf("POST /v1/sessions: %d %s", resp.StatusCode, body)
	}
	return c
}

// clusterKeysPerNode counts the keys under prefix on each primary of the cluster.
func clusterKeysPerNode(t *testing.T, cluster *redistest.ClusterServers, prefix string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, node := range cluster.Nodes {
		n := 0
		err := scanKeys(t.Context(), node.Client(t), prefix, func(string) error { n++; return nil })
		if err != nil {
			t.Fatalf("scan %s: %v", node.Addr(), err)
		}
		out[node.Addr()] = n
	}
	return out
}

// scanKeys calls f with every key of c under prefix + ":" (SCAN MATCH, the prefix escaped).
func scanKeys(ctx context.Context, c *redis.Client, prefix string, f func(key string) error) error {
	var pattern strings.Builder
	for _, r := range prefix + ":" {
		if strings.ContainsRune(`*?[]\`, r) {
			pattern.WriteByte('\\')
		}
		pattern.WriteRune(r)
	}
	pattern.WriteByte('*')
	iter := c.Scan(ctx, 0, pattern.String(), 1000).Iterator()
	for iter.Next(ctx) {
		if err := f(iter.Val()); err != nil {
			return err
		}
	}
	return iter.Err()
}

// sseEvent is one event of a Server-Sent Events stream, as a browser's EventSource dispatches
// it, with the time it arrived.
type sseEvent struct {
	ID, Name string
	Event    broker.Event
	Arrived  time.Time
}

// sseClient reads a session's event stream the way a browser's EventSource does: fields
// "id", "event" and "data" (data lines joined with "\n"), comments (keep-alives) ignored, an
// event dispatched at each blank line.
type sseClient struct {
	events chan sseEvent
	done   chan struct{} // closed when the stream has ended
	cancel context.CancelFunc
}

// openEvents opens GET {base}/v1/sessions/{id}/events with the session token, as a Bearer
// header or (bearer false, as EventSource must, having no headers) in ?token=.
func openEvents(tb testing.TB, base string, c createdSession, bearer bool) *sseClient {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u := base + "/v1/sessions/" + c.ID + "/events"
	if !bearer {
		u += "?token=" + c.SessionToken
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Accept", "text/event-stream")
	if bearer {
		req.Header.Set("Authorization", "Bearer "+c.SessionToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		tb.Fatalf("GET %s: %d %s %s", u, resp.StatusCode, ct, body)
	}
	s := &sseClient{events: make(chan sseEvent, 64), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var id, name string
		var data []string
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if data != nil {
					ev := sseEvent{ID: id, Name: name, Arrived: time.Now()}
					if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &ev.Event); err != nil {
						ev.Name = "bad data: " + err.Error()
					}
					select {
					case s.events <- ev:
					case <-ctx.Done():
						return
					}
				}
				name, data = "", nil
				continue
			}
			if strings.HasPrefix(line, ":") {
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				name = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	tb.Cleanup(s.close)
	return s
}

// next returns the next event, or false when the stream ended or none came within timeout.
func (s *sseClient) next(timeout time.Duration) (sseEvent, bool) {
	select {
	case ev := <-s.events:
		return ev, true
	case <-s.done:
		select { // events read before the end
		case ev := <-s.events:
			return ev, true
		default:
			return sseEvent{}, false
		}
	case <-time.After(timeout):
		return sseEvent{}, false
	}
}

// ended reports whether the server ended the stream within timeout.
func (s *sseClient) ended(timeout time.Duration) bool {
	select {
	case <-s.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

func (s *sseClient) close() {
	s.cancel()
	<-s.done
}

// collect reads events until one has a status in until (or the stream ends, or 5 s pass
// without an event) and returns them.
func (s *sseClient) collect(until ...broker.Status) []sseEvent {
	var got []sseEvent
	for {
		ev, ok := s.next(5 * time.Second)
		if !ok {
			return got
		}
		got = append(got, ev)
		if slices.Contains(until, ev.Event.Status) {
			return got
		}
	}
}

// TestCrossReplicaEvents: two instances of one deployment on one Redis. The customer's wallet
// reaches only instance A (the deployment's public URL is A's address, so the invitation's
// DIDComm endpoint is A's): every transition of the session is made on A. The browser's event
// stream is on instance B. Every state change must arrive on B — over Redis pub/sub — once, in
// order, as a well-formed SSE event; a rejected session's stream ends after its terminal
// event. Run on a standalone redis-server and on a three-node Cluster (where PUBLISH crosses
// the cluster bus). Time is not asserted here: BenchmarkCrossReplicaEvent measures it.
func TestCrossReplicaEvents(t *testing.T) {
	for _, topo := range []string{"standalone", "cluster"} {
		t.Run(topo, func(t *testing.T) {
			var url string
			if topo == "cluster" {
				url = redistest.Cluster(t, 3).URL()
			} else {
				url = redistest.Server(t).URL()
			}
			_, twilioURL := sharedEmulator(t)
			d := &redisDeployment{redisURL: url, prefix: "hearro-events-" + randomHex(4), twilioURL: twilioURL}
			a := d.start(t, nil)
			b := d.start(t, nil)
			if b.direct() == a.direct() || b.url != a.url {
				t.Fatalf("instances: A %s, B %s (public %s)", a.direct(), b.direct(), b.url)
			}
			waitReady(t, b.direct())

			for i, tc := range []struct {
				name       string
				selfIssued bool
				bearer     bool
				want       []broker.Status
			}{
				{"bound, token in the query", false, false, []broker.Status{"invited", "connected", "requested", "verified", "bound"}},
				{"bound, Bearer token", false, true, []broker.Status{"invited", "connected", "requested", "verified", "bound"}},
				{"rejected: untrusted issuer", true, true, []broker.Status{"invited", "connected", "requested", "rejected"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := a.createSession(t)
					onB := openEvents(t, b.direct(), c, tc.bearer)
					// The current state first: B is subscribed before the wallet starts.
					first, ok := onB.next(5 * time.Second)
					if !ok || first.Event.Status != "invited" {
						t.Fatalf("first event on B: %+v (%v)", first, ok)
					}
					sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
						w.SelfIssued = tc.selfIssued
						w.Claims = fmt.Sprintf("givenName=Ada,familyName=Lovelace,memberId=X-%d", i)
					})
					if sum.Outcome == nil {
						t.Fatalf("wallet: %v\n%s", err, progress)
					}
					got := append([]sseEvent{first}, onB.collect(tc.want[len(tc.want)-1])...)
					var statuses []broker.Status
					for j, ev := range got {
						statuses = append(statuses, ev.Event.Status)
						if ev.Name != "status" || ev.Event.SessionID != c.ID || ev.ID != strconv.FormatInt(ev.Event.Version, 10) || ev.Event.At.IsZero() {
							t.Errorf("event %d on B is not a status event of %s with id = version: %+v", j, c.ID, ev)
						}
						if j > 0 && ev.Event.Version <= got[j-1].Event.Version {
							t.Errorf("event %d on B: version %d after %d", j, ev.Event.Version, got[j-1].Event.Version)
						}
					}
					if !slices.Equal(statuses, tc.want) {
						t.Fatalf("statuses on B %v, want %v", statuses, tc.want)
					}
					// Nothing after the last state, and a terminal state ends the stream.
					if tc.want[len(tc.want)-1].Terminal() {
						if !onB.ended(5 * time.Second) {
							t.Error("B's stream did not end after the terminal event")
						}
					}
					if ev, ok := onB.next(100 * time.Millisecond); ok {
						t.Errorf("event after %s on B: %+v", statuses[len(statuses)-1], ev)
					}
					// What B streamed is what A stored.
					st := a.session(t, c)
					if st.Status != string(tc.want[len(tc.want)-1]) {
						t.Errorf("session on A is %s", st.Status)
					}
				})
			}
		})
	}
}

// BenchmarkCrossReplicaEvent measures how long a session's state change made on instance A
// takes to reach a browser's event stream on instance B over Redis pub/sub, on loopback: A's
// transition time (the event's `at`, the clock reading the transition was stored with — A and B
// are in one process, so on one clock) to the moment B's SSE event has been read by the client.
// Each iteration runs one session to bound with a wallet talking to A only (an in-process
// wallet, as in BenchmarkSessionToBound), and yields four events (connected, requested,
// verified, bound); the initial state B streams on connecting is not a transition and is not
// counted. ns/op is the whole session.
//
// Reported: ms-median and ms-p90 of A→B over all events; local-ms-median, the same for an
// event stream on A itself (no pub/sub hop), for comparison.
func BenchmarkCrossReplicaEvent(b *testing.B) {
	b.Run("standalone", func(b *testing.B) { benchmarkCrossReplicaEvent(b, redistest.Server(b).URL()) })
	b.Run("cluster", func(b *testing.B) { benchmarkCrossReplicaEvent(b, redistest.Cluster(b, 3).URL()) })
}

func benchmarkCrossReplicaEvent(b *testing.B, redisURL string) {
	_, twilioURL := sharedEmulator(b)
	d := &redisDeployment{redisURL: redisURL, prefix: "hearro-bench-" + randomHex(4), twilioURL: twilioURL}
	a := d.start(b, nil)
	rb := d.start(b, nil)
	waitReady(b, rb.direct())
	w, cred := benchWallet(b)

	var remote, local []time.Duration
	b.ResetTimer()
	for b.Loop() {
		c, invitation := createSessionWithInvitation(b, a.url)
		onB := openEvents(b, rb.direct(), c, false)
		onA := openEvents(b, a.direct(), c, false)
		for _, s := range []*sseClient{onB, onA} {
			if ev, ok := s.next(5 * time.Second); !ok || ev.Event.Status != "invited" {
				b.Fatalf("first event: %+v", ev)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		out, err := w.Accept(ctx, invitation, cred, nil)
		cancel()
		if err != nil || out.Status != "acknowledged" {
			b.Fatalf("wallet: %+v %v", out, err)
		}
		for _, side := range []struct {
			s   *sseClient
			acc *[]time.Duration
		}{{onB, &remote}, {onA, &local}} {
			got := side.s.collect(broker.StatusBound)
			if len(got) != 4 || got[3].Event.Status != broker.StatusBound {
				b.Fatalf("events after invited: %+v", got)
			}
			for _, ev := range got {
				*side.acc = append(*side.acc, ev.Arrived.Sub(ev.Event.At))
			}
		}
		onA.close()
		onB.close()
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	slices.Sort(remote)
	slices.Sort(local)
	b.ReportMetric(ms(remote[len(remote)/2]), "ms-median")
	b.ReportMetric(ms(remote[len(remote)*9/10]), "ms-p90")
	b.ReportMetric(ms(local[len(local)/2]), "local-ms-median")
}

// benchWallet opens an in-process demo wallet with a development credential, kept open for
// the whole benchmark (like a phone's).
func benchWallet(b *testing.B) (*wallet.Wallet, wallet.Credential) {
	b.Helper()
	dir := b.TempDir()
	db, err := boltstore.Open(filepath.Join(dir, "wallet.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	lock, _, err := masterLock(nil, dir)
	if err != nil {
		b.Fatal(err)
	}
	loader, err := identity.NewContextLoader()
	if err != nil {
		b.Fatal(err)
	}
	w, err := wallet.Open(wallet.Config{Storage: db.AgentStorage(), SecretLock: lock, Loader: loader})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	cred, _, err := w.EnsureCredential(nil)
	if err != nil {
		b.Fatal(err)
	}
	return w, cred
}

// createSessionWithInvitation starts a session at base and returns it with its invitation.
func createSessionWithInvitation(tb testing.TB, base string) (createdSession, []byte) {
	tb.Helper()
	resp, err := http.Post(base+"/v1/sessions", "application/json", nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var c createdSession
	var inv struct {
		Invitation json.RawMessage `json:"invitation"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(body, &c) != nil || json.Unmarshal(body, &inv) != nil || len(inv.Invitation) == 0 {
		tb.Fatalf("POST /v1/sessions: %d %s", resp.StatusCode, body)
	}
	return c, inv.Invitation
}

// TestErasureLeavesNoTraceOnRedis is TestErasureLeavesNoTrace on Redis: a customer is verified
// (and gets a chat), erased with DELETE /v1/identities/{id}, and then every key of the Redis —
// a private redis-server, so every key there is the deployment's: the broker's under
// `<prefix>:{b}:`, the DIDComm agent's under `<prefix>:a:` — is read whatever its type
// (string, hash, set, sorted set, list, stream), name and value. Neither the identity's ID, its
// pseudonym, the holder's DID, the DIDComm connection (its ID and the wallet's peer DID) nor a
// claim value (random, so found nowhere else) may remain. As in the embedded store's test, the
// CRM's webhook endpoint refuses every event but the erasure, so the customer's queued
// deliveries (which carry the claims) are in the store when the erasure comes. A second
// customer, kept, shows that the scan finds what is there.
func TestErasureLeavesNoTraceOnRedis(t *testing.T) {
	srv := redistest.Server(t)
	recv, endpoint := startReceiver(t)
	recv.accept = func(typ string) bool { return typ == "identity.erased" }
	d := &redisDeployment{redisURL: srv.URL(), prefix: "hearro-erasure-" + randomHex(4)}
	s := d.start(t, func(c *serveConfig) { c.WebhookURLs = []string{endpoint} })
	recv.trustKeysOf(t, s)

	type customer struct {
		ident             identityJSON
		claims            []string
		theirDID, chatSID string
		sessionID         string
	}
	verify := func() customer {
		t.Helper()
		cu := customer{claims: []string{"G" + randomHex(6), "F" + randomHex(6), "M-" + randomHex(6)}}
		c := s.createSession(t)
		cu.sessionID = c.ID
		sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
			w.Claims = "givenName=" + cu.claims[0] + ",familyName=" + cu.claims[1] + ",memberId=" + cu.claims[2]
		})
		if err != nil {
			t.Fatalf("wallet: %v\n%s", err, progress)
		}
		st := s.waitStatus(t, c, "bound")
		if st.Chat == nil || st.Chat.Token == "" {
			t.Fatalf("bound without a chat: %+v", st)
		}
		cu.chatSID = st.Chat.ConversationSID
		if code := getJSON(t, s.url+"/v1/identities/"+st.IdentityID, s.crmToken(t, "identities:read"), &cu.ident); code != 200 {
			t.Fatalf("GET identity: %d", code)
		}
		if cu.ident.HolderDID != sum.HolderDID || cu.ident.FlexIdentity != st.Chat.Identity || cu.ident.ConnectionID == "" ||
			cu.ident.Claims["memberId"] != cu.claims[2] {
			t.Fatalf("identity %+v", cu.ident)
		}
		cu.theirDID = theirDID(t, s, cu.ident.ConnectionID)
		return cu
	}
	gone, kept := verify(), verify()
	waitFor(t, "the identity.verified deliveries to be tried", func() bool {
		recv.mu.Lock()
		defer recv.mu.Unlock()
		return len(recv.attempts) >= 2
	})
	if resp, body := do(t, "DELETE", s.url+"/v1/identities/"+gone.ident.ID, map[string]string{"Authorization": s.crmToken(t, "identities:write")}, ""); resp.StatusCode != 204 {
		t.Fatalf("DELETE: %d %s", resp.StatusCode, body)
	}
	waitFor(t, "identity.erased", func() bool { return slices.Contains(recv.eventTypes(), "identity.erased") })
	// The erasure at Twilio keeps the pseudonym until it is done.
	s.waitErasure(t, gone.ident.ID, "done", func(st erasureStatus) bool { return st.Status == "done" })
	client := srv.Client(t)
	// The receiver has the erasure's webhook; the service removes the delivery from its outbox
	// once it has the receiver's answer. Wait for that (it names the identity, as it must).
	waitFor(t, "the delivered identity.erased to leave the outbox", func() bool {
		for _, text := range redistest.Dump(t, client, "") {
			if strings.Contains(text, gone.ident.ID) && strings.Contains(text, `"identity.erased"`) {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.shutdown(ctx); err != nil { // nothing writes while the keys are read
		t.Fatal(err)
	}

	traces := map[string]string{
		"identity ID": gone.ident.ID, "pseudonym": gone.ident.FlexIdentity, "holder DID": gone.ident.HolderDID,
		"connection ID": gone.ident.ConnectionID, "wallet's peer DID": gone.theirDID,
		"givenName": gone.claims[0], "familyName": gone.claims[1], "memberId": gone.claims[2],
	}
	controls := map[string]string{
		"identity ID": kept.ident.ID, "pseudonym": kept.ident.FlexIdentity, "holder DID": kept.ident.HolderDID,
		"connection ID": kept.ident.ConnectionID, "wallet's peer DID": kept.theirDID,
		"givenName": kept.claims[0], "familyName": kept.claims[1], "memberId": kept.claims[2],
	}
	dump := redistest.Dump(t, client, "")
	agentKeys := 0
	for key := range dump {
		if !strings.HasPrefix(key, d.prefix+":") {
			t.Errorf("key %q is outside the deployment's prefix %s:", key, d.prefix)
		}
		if strings.HasPrefix(key, d.prefix+":a:") {
			agentKeys++
		}
	}
	if agentKeys == 0 {
		t.Fatalf("no key under %s:a: among %d: the DIDComm agent's data was not scanned", d.prefix, len(dump))
	}
	storetest.NoTrace(t, dump, traces, controls)
	// Allowed, and reported for the record: the session that verified the customer stays (with
	// its status, without identity, connection or chat) until it expires, and so may what names
	// it or the chat's Twilio SID.
	for _, k := range slices.Sorted(maps.Keys(dump)) {
		var names []string
		for what, v := range map[string]string{"session ID": gone.sessionID, "chat SID": gone.chatSID} {
			if strings.Contains(dump[k], v) {
				names = append(names, what)
			}
		}
		if len(names) > 0 {
			slices.Sort(names)
			t.Logf("kept: %s (%s) names the erased customer's %s", k, keyType(t, client, k), strings.Join(names, " and "))
		}
	}
	t.Logf("read %d keys (%d of the DIDComm agent)", len(dump), agentKeys)
}

func keyType(t *testing.T, c *redis.Client, key string) string {
	typ, _ := c.Type(t.Context(), key).Result()
	ttl, _ := c.TTL(t.Context(), key).Result()
	if ttl > 0 {
		return fmt.Sprintf("%s, TTL %s", typ, ttl.Round(time.Second))
	}
	return typ + ", no TTL"
}
