package didcomm_test

import (
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/aries-framework-go/component/storageutil/mem"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock/local"
	"strings"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/identity/issuer"
	"github.com/hearro/trustbroker/identity/wallet"
)

// verifierHandler plays the broker: request on connect, verify and answer on presentation.
type verifierHandler struct {
	t        *testing.T
	agent    *didcomm.Agent
	verifier *identity.Verifier
	policy   *identity.Policy
	domain   string

	mu       sync.Mutex
	nonce    map[string]string // thread → challenge
	outcomes chan string
}

func (h *verifierHandler) Connected(ctx context.Context, c didcomm.Connection) {
	nonce := "nonce-" + c.ConnectionID
	peer, err := h.agent.RequestPresentation(ctx, c.ConnectionID, "", didcomm.PresentationRequest{
		Definition: h.policy.PresentationDefinition("def-1"), Challenge: nonce, Domain: h.domain,
	})
	if err != nil {
		h.t.Errorf("request presentation: %v", err)
		return
	}
	h.mu.Lock()
	h.nonce[peer.ThreadID] = nonce
	h.mu.Unlock()
}

func (h *verifierHandler) PresentationReceived(ctx context.Context, p didcomm.ReceivedPresentation) {
	h.mu.Lock()
	nonce := h.nonce[p.ThreadID]
	h.mu.Unlock()
	_, err := h.verifier.Verify(ctx, p.Presentation, identity.Request{Policy: h.policy, Challenge: nonce, Domain: h.domain})
	if err != nil {
		h.outcomes <- string(identity.ReasonOf(err))
		if err := h.agent.Reject(ctx, p.Peer, string(identity.ReasonOf(err)), err.Error()); err != nil {
			h.t.Errorf("reject: %v", err)
		}
		return
	}
	h.outcomes <- "verified"
	if err := h.agent.Acknowledge(ctx, p.Peer); err != nil {
		h.t.Errorf("ack: %v", err)
	}
}

func (h *verifierHandler) ProblemReported(_ context.Context, p didcomm.ReceivedProblem) {
	h.outcomes <- "problem:" + p.Code
}

func masterLock(t testing.TB) *local.Lock {
	t.Helper()
	lock, err := local.NewService(strings.NewReader(base64.URLEncoding.EncodeToString(make([]byte, 32))), nil)
	if err != nil {
		t.Fatal(err)
	}
	return lock.(*local.Lock)
}

func startVerifier(t testing.TB) (*didcomm.Agent, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	loader, _ := identity.NewContextLoader()
	agent, err := didcomm.New(didcomm.Config{
		Endpoint: base + "/didcomm", Label: "Test verifier", Storage: mem.NewProvider(),
		SecretLock: masterLock(t), Loader: loader,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/didcomm", agent.HTTPHandler())
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); agent.Close() })
	return agent, base
}

func TestFlowWithDemoWallet(t *testing.T) {
	agent, base := startVerifier(t)
	loader, _ := identity.NewContextLoader()
	v, _ := identity.NewVerifier(identity.VerifierConfig{Loader: loader})
	h := &verifierHandler{t: t, agent: agent, verifier: v, policy: identity.DevelopmentPolicy(issuer.DevelopmentDID()),
		domain: base, nonce: map[string]string{}, outcomes: make(chan string, 4)}
	agent.SetHandler(h)

	w, err := wallet.Open(wallet.Config{Storage: mem.NewProvider(), SecretLock: masterLock(t), Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cred, _, err := w.EnsureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name       string
		selfIssued bool
		want       string
	}{
		{"verified", false, "verified"},
		{"verified again on a new connection", false, "verified"},
		{"self-issued/untrusted_issuer", true, "untrusted_issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cred
			if tc.selfIssued {
				if c, err = w.SelfIssued(nil); err != nil {
					t.Fatal(err)
				}
			}
			inv, err := agent.CreateInvitation(context.Background(), "test")
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				t.Logf("invitation: %s", inv.JSON)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			out, err := w.Accept(ctx, inv.JSON, c, func(s wallet.Step) { t.Logf("%8s %s: %s", s.Elapsed.Round(time.Millisecond), s.Name, s.Message) })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("outcome %+v in %s", out, time.Since(start))
			if got := <-h.outcomes; got != tc.want {
				t.Fatalf("verifier outcome %q, want %q", got, tc.want)
			}
			wantWallet := "acknowledged"
			if tc.want != "verified" {
				wantWallet = "rejected"
				if out.Reason != tc.want {
					t.Errorf("wallet saw reason %q, want %q", out.Reason, tc.want)
				}
			}
			if out.Status != wantWallet {
				t.Errorf("wallet status %q, want %q", out.Status, wantWallet)
			}
		})
	}
}
