package didcomm_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/component/storageutil/mem"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock/local"
	spi "github.com/hyperledger/aries-framework-go/spi/storage"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/internal/demo/issuer"
	"github.com/hearro/trustbroker/internal/demo/wallet"
)

// verifierHandler plays the broker (broker/service.go): request on connect, verify and answer
// on presentation, and answer a presentation on a thread it did not start with
// "unknown_thread".
type verifierHandler struct {
	t        testing.TB
	agent    *didcomm.Agent
	verifier *identity.Verifier
	policy   *identity.Policy
	domain   string

	mu       sync.Mutex
	nonce    map[string]string // thread → challenge
	results  map[string]string // thread → outcome
	changed  chan struct{}     // closed and replaced when results change
	outcomes chan string       // every outcome, in order (buffered; never blocks the agent)
	code     string            // confirmation code the next requests carry ("" for none)
	fetch    string            // a URL fetched under the request's context before verifying ("" for none)
}

func newVerifierHandler(t testing.TB, agent *didcomm.Agent, domain string) *verifierHandler {
	t.Helper()
	loader, err := identity.NewContextLoader()
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier(identity.VerifierConfig{Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	h := &verifierHandler{
		t: t, agent: agent, verifier: v, policy: identity.DevelopmentPolicy(issuer.DevelopmentDID()), domain: domain,
		nonce: map[string]string{}, results: map[string]string{}, changed: make(chan struct{}), outcomes: make(chan string, 64),
	}
	serve(agent, agent.Serve(h))
	return h
}

func (h *verifierHandler) Connected(ctx context.Context, c didcomm.Connection) {
	// As the broker does, record the thread before the request goes out: the answer can
	// arrive before RequestPresentation returns.
	nonce, thread := "nonce-"+c.ConnectionID, uuid.NewString()
	h.mu.Lock()
	h.nonce[thread] = nonce
	code := h.code
	h.mu.Unlock()
	if _, err := h.agent.RequestPresentation(ctx, c.ConnectionID, thread, didcomm.PresentationRequest{
		Comment: h.policy.Purpose, ConfirmationCode: code,
		Definition: h.policy.PresentationDefinition("def-1"), Challenge: nonce, Domain: h.domain,
	}); err != nil {
		h.t.Errorf("request presentation: %v", err)
	}
}

func (h *verifierHandler) PresentationReceived(ctx context.Context, p didcomm.ReceivedPresentation) didcomm.Verdict {
	h.mu.Lock()
	nonce, known := h.nonce[p.ThreadID]
	h.mu.Unlock()
	if !known { // as broker.Service.PresentationReceived does
		h.record(p.ThreadID, "unknown_thread")
		return didcomm.Verdict{Code: "unknown_thread", Explain: "no presentation was requested on this thread"}
	}
	if h.fetch != "" { // as a did:web or status list fetch would be
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.fetch, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		if ctx.Err() != nil { // the wallet hung up
			h.record(p.ThreadID, "cancelled")
			return didcomm.Verdict{Code: "internal_error", Explain: "try again later"}
		}
	}
	_, err := h.verifier.Verify(ctx, p.Presentation, identity.Request{Policy: h.policy, Challenge: nonce, Domain: h.domain})
	if err != nil {
		h.record(p.ThreadID, string(identity.ReasonOf(err)))
		return didcomm.Verdict{Code: string(identity.ReasonOf(err)), Explain: err.Error()}
	}
	h.record(p.ThreadID, "verified")
	return didcomm.Verdict{Accepted: true}
}

func (h *verifierHandler) ProblemReported(_ context.Context, p didcomm.ReceivedProblem) {
	h.record(p.ThreadID, "problem:"+p.Code)
}

func (h *verifierHandler) record(thread, outcome string) {
	h.mu.Lock()
	h.results[thread] = outcome
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
	select {
	case h.outcomes <- outcome:
	default:
	}
}

// outcome waits for the verifier's outcome on a thread.
func (h *verifierHandler) outcome(t testing.TB, thread string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		got, ok := h.results[thread]
		wait := h.changed
		h.mu.Unlock()
		if ok {
			return got
		}
		select {
		case <-wait:
		case <-deadline:
			t.Fatalf("no verifier outcome on thread %s", thread)
			return ""
		}
	}
}

func masterLock(t testing.TB) *local.Lock {
	t.Helper()
	lock, err := local.NewService(strings.NewReader(base64.URLEncoding.EncodeToString(make([]byte, 32))), nil)
	if err != nil {
		t.Fatal(err)
	}
	return lock.(*local.Lock)
}

// quietHandler takes connections and asks nothing.
type quietHandler struct{}

func (quietHandler) Connected(context.Context, didcomm.Connection) {}
func (quietHandler) PresentationReceived(context.Context, didcomm.ReceivedPresentation) didcomm.Verdict {
	return didcomm.Verdict{Code: "unknown_thread", Explain: "no presentation was requested on this thread"}
}
func (quietHandler) ProblemReported(context.Context, didcomm.ReceivedProblem) {}

// servers maps each test agent to the slot of its listener's /didcomm handler, which serve
// fills once the agent has a handler (Agent.Serve).
var servers sync.Map // *didcomm.Agent → *atomic.Pointer[http.Handler]

func serve(agent *didcomm.Agent, r didcomm.Receiver) {
	slot, _ := servers.Load(agent)
	var h http.Handler = r
	slot.(*atomic.Pointer[http.Handler]).Store(&h)
}

// startVerifier runs the service's agent on a loopback listener, its inbound handler at
// /didcomm, and returns it with its base URL.
func startVerifier(t testing.TB) (*didcomm.Agent, string) {
	t.Helper()
	return startVerifierOn(t, mem.NewProvider())
}

// startVerifierOn is startVerifier with the agent's data in storage.
func startVerifierOn(t testing.TB, storage spi.Provider) (*didcomm.Agent, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	loader, err := identity.NewContextLoader()
	if err != nil {
		t.Fatal(err)
	}
	agent, err := didcomm.New(didcomm.Config{
		Endpoint: base + "/didcomm", Label: "Test verifier", Storage: storage,
		SecretLock: masterLock(t), Loader: loader,
	})
	if err != nil {
		t.Fatal(err)
	}
	slot := &atomic.Pointer[http.Handler]{}
	servers.Store(agent, slot)
	mux := http.NewServeMux()
	mux.HandleFunc("/didcomm", func(w http.ResponseWriter, r *http.Request) {
		h := slot.Load()
		if h == nil {
			http.Error(w, "no handler yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close(); agent.Close() })
	return agent, base
}

// demoWallet opens a demo wallet holding a credential of the development issuer; client, if
// not nil, sends its messages.
func demoWallet(t testing.TB, client *http.Client) (*wallet.Wallet, wallet.Credential) {
	t.Helper()
	loader, err := identity.NewContextLoader()
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.Open(wallet.Config{Storage: mem.NewProvider(), SecretLock: masterLock(t), Loader: loader, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	cred, _, err := w.EnsureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, cred
}
