package broker_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/identity/confirm"
)

// The broker is tested against the real embedded store; its other collaborators are
// stateful fakes that record what they are asked and can be told to fail.

type fakeWallets struct {
	mu        sync.Mutex
	requests  []requestCall
	acks      []walletPeer
	rejects   map[string]string // thread → code
	failSend  bool
	inviteErr error
	conns     map[string]broker.WalletConnection
	removed   []string
	codes     map[string]string // invitation ID → the confirmation code it was made with
}

// walletPeer is the wallet's side of a presentation thread.
type walletPeer struct {
	ThreadID, ConnectionID, TheirDID string
}

func (w *fakeWallets) Connections(context.Context) ([]broker.WalletConnection, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []broker.WalletConnection
	for _, c := range w.conns {
		out = append(out, c)
	}
	return out, nil
}

func (w *fakeWallets) Connection(_ context.Context, id string) (broker.WalletConnection, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.conns[id]
	if !ok {
		return c, broker.ErrUnknownConnection
	}
	return c, nil
}

func (w *fakeWallets) RemoveConnection(_ context.Context, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.conns[id]; !ok {
		return broker.ErrUnknownConnection
	}
	delete(w.conns, id)
	w.removed = append(w.removed, id)
	return nil
}

type requestCall struct {
	connectionID, threadID string
	req                    broker.PresentationRequest
}

func (w *fakeWallets) CreateInvitation(_ context.Context, _, code string) (broker.Invitation, error) {
	if w.inviteErr != nil {
		return broker.Invitation{}, w.inviteErr
	}
	id := uuid.NewString()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.codes == nil {
		w.codes = map[string]string{}
	}
	w.codes[id] = code
	return broker.Invitation{ID: id, JSON: []byte(`{"@id":"` + id + `"}`)}, nil
}

func (w *fakeWallets) invitationCode(id string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.codes[id]
}

func (w *fakeWallets) RequestPresentation(_ context.Context, conn, thread string, req broker.PresentationRequest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.requests = append(w.requests, requestCall{conn, thread, req})
	if w.failSend {
		return errors.New("connection refused")
	}
	return nil
}

// answer records what the agent would send the wallet for a verdict: an ack or a problem
// report with the verdict's code.
func (w *fakeWallets) answer(p walletPeer, v broker.Verdict) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v.Accepted {
		w.acks = append(w.acks, p)
		return
	}
	if w.rejects == nil {
		w.rejects = map[string]string{}
	}
	w.rejects[p.ThreadID] = v.Reason
}

func (w *fakeWallets) lastRequest(t *testing.T) requestCall {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.requests) == 0 {
		t.Fatal("no presentation was requested")
	}
	return w.requests[len(w.requests)-1]
}

func (w *fakeWallets) rejection(thread string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rejects[thread]
}

// fakeVerifier accepts a presentation whose bytes are "ok:<holder>", refuses "reject:<reason>",
// fails on anything else, and checks it was asked with the session's challenge.
type fakeVerifier struct{ calls atomic.Int32 }

func (v *fakeVerifier) Verify(_ context.Context, vp []byte, req broker.VerifyRequest) (*broker.Verification, error) {
	v.calls.Add(1)
	s := string(vp)
	switch {
	case len(s) > 3 && s[:3] == "ok:":
		if req.Challenge == "" || req.Domain == "" || req.Policy == "" {
			return nil, errors.New("verifier asked without challenge, domain or policy")
		}
		return &broker.Verification{
			HolderDID: s[3:], IssuerDID: "did:key:issuer", CredentialType: "VerifiedCustomer",
			Claims:    map[string]any{"givenName": "Ada", "familyName": "Lovelace", "memberId": "12345"},
			ExpiresAt: time.Now().Add(time.Hour),
		}, nil
	case len(s) > 7 && s[:7] == "reject:":
		return nil, &broker.Refusal{Reason: s[7:], Explain: "refused", Detail: "test"}
	}
	return nil, errors.New("verifier exploded")
}

type fakeChats struct {
	mu       sync.Mutex
	opened   []broker.ChatRequest
	failures int // fail this many OpenChat calls first
	attempts int
}

func (c *fakeChats) OpenChat(_ context.Context, req broker.ChatRequest) (broker.OpenedChat, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts++
	if c.failures > 0 {
		c.failures--
		return broker.OpenedChat{}, &broker.ChatError{Kind: broker.ChatTemporary, Err: errors.New("create web chat: twilio 503: unavailable")}
	}
	c.opened = append(c.opened, req)
	return broker.OpenedChat{ConversationSID: fmt.Sprintf("CH%032d", len(c.opened)), Identity: req.Identity}, nil
}

func (c *fakeChats) Token(identity string, ttl time.Duration) (string, time.Time, error) {
	return "token-for-" + identity, time.Now().Add(ttl), nil
}

func (c *fakeChats) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.opened)
}

// testPolicy is the policy sessions run under: the development policy's purpose, assurance
// and display claims.
func testPolicy() broker.Policy {
	return broker.Policy{
		Name: "default", Purpose: "Prove you are a verified customer.", Assurance: "development",
		DisplayClaims: []string{"givenName", "familyName"},
		Definition:    func(id string) map[string]any { return map[string]any{"id": id} },
	}
}

func testPolicies() map[string]broker.Policy {
	return map[string]broker.Policy{"default": testPolicy()}
}

type harness struct {
	svc     *broker.Service
	store   *boltstore.DB
	wallets *fakeWallets
	verify  *fakeVerifier
	chats   *fakeChats
	clock   *clock
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, nil)
}

func newHarnessWith(t *testing.T, mutate func(*broker.Config)) *harness {
	t.Helper()
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "b.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{store: db, wallets: &fakeWallets{}, verify: &fakeVerifier{}, chats: &fakeChats{}, clock: &clock{now: time.Now()}}
	cfg := broker.Config{
		Domain: "https://verify.example.com", Policies: testPolicies(),
		DefaultPolicy: "default", PseudonymKey: make([]byte, 32), SessionTTL: time.Minute, Now: h.clock.Now,
		BindRetryFor: 5 * time.Second, SweepInterval: 10 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	h.svc, err = broker.New(cfg, broker.Deps{Store: db, Events: broker.NewLocalEvents(), Wallets: h.wallets, Verifier: h.verify, Chats: h.chats})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.svc.Close(context.Background()) })
	run(t, h.svc)
	return h
}

// run runs svc's own work (Service.Run) until the test ends.
func run(t *testing.T, svc *broker.Service) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// requested runs a session up to requested and returns it with the peer of its thread.
func (h *harness) requested(t *testing.T) (*broker.Session, walletPeer) {
	t.Helper()
	ctx := context.Background()
	s, err := h.svc.CreateSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	conn := "conn-" + s.ID
	h.svc.Connected(ctx, broker.WalletConnection{ConnectionID: conn, InvitationID: s.InvitationID, TheirDID: "did:peer:their"})
	s = h.status(t, s.ID, broker.StatusRequested)
	return s, walletPeer{ThreadID: s.ThreadID, ConnectionID: conn, TheirDID: "did:peer:their"}
}

func (h *harness) status(t *testing.T, id string, want broker.Status) *broker.Session {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := h.svc.Session(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Status == want {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s is %s (%s), want %s", id, s.Status, s.Reason, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// present hands the service a presentation on p's thread and records the wallet's answer.
func present(h *harness, p walletPeer, vp string) { presentTo(h.svc, h.wallets, p, vp) }

func presentTo(svc *broker.Service, w *fakeWallets, p walletPeer, vp string) {
	w.answer(p, svc.PresentationReceived(context.Background(), broker.Presentation{
		ThreadID: p.ThreadID, ConnectionID: p.ConnectionID, TheirDID: p.TheirDID, Body: []byte(vp)}))
}

func TestSessionToBound(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, peer := h.requested(t)
	req := h.wallets.lastRequest(t)
	if req.threadID != s.ThreadID || req.req.Challenge != s.Nonce || req.req.Domain != "https://verify.example.com" || req.req.Definition == nil {
		t.Fatalf("request %+v for session %+v", req, s)
	}
	events, err := h.svc.Watch(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	present(h, peer, "ok:did:key:holder")
	if len(h.wallets.acks) != 1 || h.wallets.acks[0].ThreadID != s.ThreadID {
		t.Fatalf("acks %+v", h.wallets.acks)
	}
	var seen []broker.Status
	for ev := range events {
		seen = append(seen, ev.Status)
		if ev.Status == broker.StatusBound {
			break
		}
	}
	if fmt.Sprint(seen) != "[requested verified bound]" {
		t.Errorf("watched %v", seen)
	}
	v, err := h.svc.DescribeSession(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	ident, err := h.svc.Identity(ctx, v.IdentityID)
	if err != nil {
		t.Fatal(err)
	}
	pseudonym := broker.Pseudonym(make([]byte, 32), "did:key:holder")
	if v.Chat == nil || v.Chat.Identity != pseudonym || v.ChatToken != "token-for-"+pseudonym || ident.FlexIdentity != pseudonym || ident.HolderDID != "did:key:holder" {
		t.Fatalf("view %+v identity %+v", v, ident)
	}
	opened := h.chats.opened[0]
	claims := opened.Attributes["claims"].(map[string]any)
	if opened.Identity != pseudonym || len(claims) != 2 || claims["memberId"] != nil || opened.CustomerFriendlyName != "Ada Lovelace" {
		t.Errorf("chat request %+v", opened)
	}
}

func TestPresentationOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		vp         string
		wantStatus broker.Status
		wantReason string // session reason and the code the wallet receives
	}{
		{"rejected/untrusted issuer", "reject:untrusted_issuer", broker.StatusRejected, "untrusted_issuer"},
		{"rejected/bad signature", "reject:bad_signature", broker.StatusRejected, "bad_signature"},
		{"rejected/verifier failure is internal_error", "???", broker.StatusRejected, "internal_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			s, peer := h.requested(t)
			present(h, peer, tc.vp)
			got := h.status(t, s.ID, tc.wantStatus)
			if got.Reason != tc.wantReason || got.IdentityID != "" {
				t.Fatalf("session %+v", got)
			}
			if code := h.wallets.rejection(s.ThreadID); code != tc.wantReason {
				t.Errorf("wallet told %q, want %q", code, tc.wantReason)
			}
			time.Sleep(20 * time.Millisecond)
			if h.chats.count() != 0 {
				t.Error("a chat was opened for a rejected session")
			}
		})
	}
}

func TestReplayAndForeignThreads(t *testing.T) {
	h := newHarness(t)
	s, peer := h.requested(t)

	t.Run("presentation from another connection on the thread", func(t *testing.T) {
		foreign := peer
		foreign.ConnectionID = "someone-else"
		foreign.ThreadID = s.ThreadID
		present(h, foreign, "ok:did:key:attacker")
		if code := h.wallets.rejection(s.ThreadID); code != "unknown_thread" {
			t.Fatalf("foreign wallet told %q", code)
		}
		h.status(t, s.ID, broker.StatusRequested) // untouched
	})
	t.Run("unknown thread", func(t *testing.T) {
		present(h, walletPeer{ThreadID: "nope", ConnectionID: peer.ConnectionID}, "ok:did:key:x")
		if code := h.wallets.rejection("nope"); code != "unknown_thread" {
			t.Fatalf("told %q", code)
		}
	})
	t.Run("concurrent duplicates: one verification, the rest replayed", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() { defer wg.Done(); present(h, peer, "ok:did:key:holder") }()
		}
		wg.Wait()
		h.status(t, s.ID, broker.StatusBound)
		if n := len(h.wallets.acks); n != 1 {
			t.Fatalf("%d acks, want 1", n)
		}
		if code := h.wallets.rejection(s.ThreadID); code != "replayed" {
			t.Fatalf("duplicates told %q, want replayed", code)
		}
		if h.chats.count() != 1 {
			t.Fatalf("%d chats opened", h.chats.count())
		}
	})
}

func TestWalletSideFailures(t *testing.T) {
	t.Run("wallet declines", func(t *testing.T) {
		h := newHarness(t)
		s, peer := h.requested(t)
		h.svc.ProblemReported(context.Background(), broker.Problem{ThreadID: peer.ThreadID, ConnectionID: peer.ConnectionID, Code: "request_not_accepted"})
		if got := h.status(t, s.ID, broker.StatusRejected); got.Reason != "declined" {
			t.Fatalf("reason %q", got.Reason)
		}
	})
	t.Run("wallet declines: the code it was shown is not its owner's", func(t *testing.T) {
		h := newHarness(t)
		s, peer := h.requested(t)
		h.svc.ProblemReported(context.Background(), broker.Problem{ThreadID: peer.ThreadID, ConnectionID: peer.ConnectionID, Code: "confirmation_mismatch"})
		got := h.status(t, s.ID, broker.StatusRejected)
		if got.Reason != broker.ReasonConfirmationMismatch || got.IdentityID != "" || got.Chat != nil {
			t.Fatalf("session %+v, want rejected as confirmation_mismatch with no identity or chat", got)
		}
	})
	t.Run("a wallet's own code is not taken as a reason", func(t *testing.T) {
		h := newHarness(t)
		s, peer := h.requested(t)
		h.svc.ProblemReported(context.Background(), broker.Problem{ThreadID: peer.ThreadID, ConnectionID: peer.ConnectionID, Code: "anything_goes<script>"})
		if got := h.status(t, s.ID, broker.StatusRejected); got.Reason != "declined" {
			t.Fatalf("reason %q, want declined", got.Reason)
		}
	})
	t.Run("request cannot be delivered", func(t *testing.T) {
		h := newHarness(t)
		h.wallets.failSend = true
		s, err := h.svc.CreateSession(context.Background(), "")
		if err != nil {
			t.Fatal(err)
		}
		h.svc.Connected(context.Background(), broker.WalletConnection{ConnectionID: "c", InvitationID: s.InvitationID})
		if got := h.status(t, s.ID, broker.StatusRejected); got.Reason != broker.ReasonWalletUnreachable {
			t.Fatalf("reason %q", got.Reason)
		}
	})
	t.Run("second connection on a used invitation is ignored", func(t *testing.T) {
		h := newHarness(t)
		s, _ := h.requested(t)
		before := len(h.wallets.requests)
		h.svc.Connected(context.Background(), broker.WalletConnection{ConnectionID: "late", InvitationID: s.InvitationID})
		if len(h.wallets.requests) != before {
			t.Fatal("a second wallet was asked to present on the same session")
		}
	})
}

func TestExpiry(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, err := h.svc.CreateSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	s2, peer := h.requested(t)
	h.clock.Advance(2 * time.Minute)

	if got, _ := h.svc.Session(ctx, s.ID); got.Status != broker.StatusExpired {
		t.Fatalf("status %s after the deadline", got.Status)
	}
	h.svc.Connected(ctx, broker.WalletConnection{ConnectionID: "c", InvitationID: s.InvitationID})
	if got := h.wallets.lastRequest(t); got.connectionID == "c" {
		t.Fatal("an expired session asked for a presentation")
	}
	present(h, peer, "ok:did:key:holder")
	if code := h.wallets.rejection(s2.ThreadID); code != "session_expired" {
		t.Fatalf("late presentation told %q", code)
	}
	if got := h.status(t, s2.ID, broker.StatusExpired); got.IdentityID != "" {
		t.Fatal("an expired session got an identity")
	}
}

func TestBindFailureLeavesVerifiedAndRetries(t *testing.T) {
	t.Run("a passing failure is retried in the background", func(t *testing.T) {
		h := newHarness(t)
		h.chats.failures = 1
		s, peer := h.requested(t)
		present(h, peer, "ok:did:key:holder")
		got := h.status(t, s.ID, broker.StatusBound)
		if got.ChatError != "" || h.chats.count() != 1 || h.chats.opened[0].IdempotencyKey != s.ID {
			t.Fatalf("session %+v, chats %+v", got, h.chats.opened)
		}
	})
	t.Run("a lasting failure leaves the session verified with its reason, and a later attempt binds", func(t *testing.T) {
		h := newHarness(t)
		h.chats.failures = 1 << 30
		s, peer := h.requested(t)
		present(h, peer, "ok:did:key:holder")
		giveUp(h)
		got := h.status(t, s.ID, broker.StatusVerified)
		if got.Chat != nil || got.ChatError != broker.ChatErrorUnavailable {
			t.Fatalf("session %+v", got)
		}
		h.chats.mu.Lock()
		h.chats.failures = 0
		h.chats.mu.Unlock()
		if err := h.svc.Bind(context.Background(), s.ID); err != nil {
			t.Fatal(err)
		}
		if got := h.status(t, s.ID, broker.StatusBound); got.ChatError != "" {
			t.Fatalf("chat error kept after binding: %+v", got)
		}
		if err := h.svc.Bind(context.Background(), s.ID); !errors.Is(err, broker.ErrConflict) {
			t.Fatalf("binding a bound session: %v", err)
		}
		if h.chats.count() != 1 {
			t.Fatalf("%d chats", h.chats.count())
		}
	})
	t.Run("the sweep starts a new attempt once Twilio is back; reading does not", func(t *testing.T) {
		h := newHarnessWith(t, func(c *broker.Config) { c.BindRetryFor = 50 * time.Millisecond })
		h.chats.failures = 1 << 30
		s, peer := h.requested(t)
		present(h, peer, "ok:did:key:holder")
		time.Sleep(200 * time.Millisecond) // the background attempts give up
		h.chats.mu.Lock()
		h.chats.failures = 0
		h.chats.mu.Unlock()
		h.clock.Advance(10 * time.Second)
		h.status(t, s.ID, broker.StatusBound)
	})
}

// giveUp stops the service's background binding attempts once the first one has failed.
func giveUp(h *harness) {
	for range 100 {
		h.chats.mu.Lock()
		failed := h.chats.attempts > 0
		h.chats.mu.Unlock()
		if failed {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	h.svc.Close(ctx)
}

func TestChatLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, peer := h.requested(t)
	present(h, peer, "ok:did:key:holder")
	bound := h.status(t, s.ID, broker.StatusBound)

	tok, _, err := h.svc.RefreshChatToken(ctx, s.ID)
	if err != nil || tok == "" {
		t.Fatalf("token: %q %v", tok, err)
	}
	h.clock.Advance(2 * time.Hour) // the fake's credentials expire after an hour
	if _, _, err := h.svc.RefreshChatToken(ctx, s.ID); !errors.Is(err, broker.ErrIdentityExpired) {
		t.Fatalf("token for an expired credential: %v", err)
	}
	if err := h.svc.ChatClosed(ctx, "CH-not-ours"); err != nil {
		t.Fatal(err)
	}
	h.status(t, s.ID, broker.StatusBound)
	if err := h.svc.ChatClosed(ctx, bound.Chat.ConversationSID); err != nil {
		t.Fatal(err)
	}
	h.status(t, s.ID, broker.StatusClosed)
	if _, _, err := h.svc.RefreshChatToken(ctx, s.ID); !errors.Is(err, broker.ErrNoChat) {
		t.Fatalf("token for a closed session: %v", err)
	}
}

// ChatSummary is what the agent route serves: the summary the chat was opened with, for the
// chat's bound session only.
func TestChatSummary(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.svc.ChatSummary(ctx, "CH-not-ours"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("unknown chat: %v", err)
	}
	s, peer := h.requested(t)
	present(h, peer, "ok:did:key:holder")
	bound := h.status(t, s.ID, broker.StatusBound)
	sum, err := h.svc.ChatSummary(ctx, bound.Chat.ConversationSID)
	if err != nil {
		t.Fatal(err)
	}
	h.chats.mu.Lock()
	opened := h.chats.opened[len(h.chats.opened)-1].Attributes
	h.chats.mu.Unlock()
	if !reflect.DeepEqual(sum, opened) {
		t.Fatalf("summary %v, but the chat was opened with %v", sum, opened)
	}
	if _, ok := sum["holder_did"]; ok {
		t.Fatalf("summary has the holder DID: %v", sum)
	}
	if err := h.svc.ChatClosed(ctx, bound.Chat.ConversationSID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.ChatSummary(ctx, bound.Chat.ConversationSID); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("closed chat: %v", err)
	}
}

func TestChatTokenRefusedAfterErasure(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.wallets.conns = map[string]broker.WalletConnection{}
	s, peer := h.requested(t)
	present(h, peer, "ok:did:key:holder")
	bound := h.status(t, s.ID, broker.StatusBound)
	if err := h.svc.EraseIdentity(ctx, bound.IdentityID); err != nil {
		t.Fatal(err)
	}
	v, err := h.svc.DescribeSession(ctx, s.ID)
	if err != nil || v.ChatToken != "" || v.Chat != nil {
		t.Fatalf("erased customer's session: %+v %v", v, err)
	}
	if tok, _, err := h.svc.RefreshChatToken(ctx, s.ID); !errors.Is(err, broker.ErrIdentityGone) || tok != "" {
		t.Fatalf("RefreshChatToken after erasure = %q, %v; want ErrIdentityGone", tok, err)
	}
}

func TestReturningCustomerKeepsOneIdentity(t *testing.T) {
	h := newHarness(t)
	var ids []string
	for range 2 {
		s, peer := h.requested(t)
		present(h, peer, "ok:did:key:holder")
		ids = append(ids, h.status(t, s.ID, broker.StatusBound).IdentityID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("identities %v", ids)
	}
}

// TestReadingNeverWrites: reading a session neither records its expiry nor starts a chat
// attempt (the sweep does both); it shows a due session as expired at once.
func TestReadingNeverWrites(t *testing.T) {
	h := newHarnessWith(t, func(c *broker.Config) { c.BindRetryFor, c.SweepInterval = 50*time.Millisecond, time.Hour })
	ctx := context.Background()
	h.chats.failures = 1 << 30
	verified, peer := h.requested(t)
	present(h, peer, "ok:did:key:holder")
	time.Sleep(200 * time.Millisecond) // the background attempts give up
	h.chats.mu.Lock()
	attempts := h.chats.attempts
	h.chats.failures = 0
	h.chats.mu.Unlock()
	waiting, err := h.svc.CreateSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second) // past rebindAfter
	for range 3 {
		if v, err := h.svc.DescribeSession(ctx, verified.ID); err != nil || v.Status != broker.StatusVerified {
			t.Fatalf("verified session reads as %+v (%v)", v, err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	h.chats.mu.Lock()
	if h.chats.attempts != attempts {
		t.Errorf("reading started %d chat attempts", h.chats.attempts-attempts)
	}
	h.chats.mu.Unlock()
	h.clock.Advance(10 * time.Minute) // past both sessions' ExpiresAt
	for _, id := range []string{verified.ID, waiting.ID} {
		v, err := h.svc.DescribeSession(ctx, id)
		if err != nil || v.Status != broker.StatusExpired {
			t.Fatalf("%s reads as %+v (%v), want expired", id, v, err)
		}
	}
	for _, id := range []string{verified.ID, waiting.ID} {
		stored, err := h.store.Session(ctx, id)
		if err != nil || stored.Status == broker.StatusExpired {
			t.Errorf("reading wrote session %s: %+v (%v)", id, stored, err)
		}
	}
}

func TestWatchEndsAtTerminalStateAndExpires(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	s, err := h.svc.CreateSession(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	events, err := h.svc.Watch(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Status != broker.StatusInvited {
		t.Fatalf("first event %s, want the current state", ev.Status)
	}
	h.clock.Advance(2 * time.Minute)
	// Watch's timer uses the wall clock; the sweep, on the test's clock, records the expiry.
	// A read shows it at once and writes nothing.
	if got, err := h.svc.Session(ctx, s.ID); err != nil || got.Status != broker.StatusExpired {
		t.Fatalf("a due session reads as %v (%v), want expired", got, err)
	}
	select {
	case ev := <-events:
		if ev.Status != broker.StatusExpired {
			t.Fatalf("event %s", ev.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no expired event")
	}
	if _, ok := <-events; ok {
		t.Fatal("stream did not end after a terminal state")
	}
}

func TestCreateSessionErrors(t *testing.T) {
	h := newHarness(t)
	if _, err := h.svc.CreateSession(context.Background(), "platinum"); !errors.Is(err, broker.ErrUnknownPolicy) {
		t.Fatalf("unknown policy: %v", err)
	}
	h.wallets.inviteErr = errors.New("kms down")
	if _, err := h.svc.CreateSession(context.Background(), ""); err == nil {
		t.Fatal("no error when the invitation cannot be made")
	}
}

func TestPseudonym(t *testing.T) {
	a := broker.Pseudonym([]byte("key-1-key-1-key-1-key-1-key-1-ke"), "did:key:z6Mk1")
	if a != broker.Pseudonym([]byte("key-1-key-1-key-1-key-1-key-1-ke"), "did:key:z6Mk1") {
		t.Error("not stable")
	}
	if a == broker.Pseudonym([]byte("key-2-key-2-key-2-key-2-key-2-ke"), "did:key:z6Mk1") || a == broker.Pseudonym([]byte("key-1-key-1-key-1-key-1-key-1-ke"), "did:key:z6Mk2") {
		t.Error("not keyed by both key and DID")
	}
	if len(a) != len("hr_")+52 || a[:3] != "hr_" {
		t.Errorf("pseudonym %q", a)
	}
}

func TestReturningCustomerOverTheirConnection(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.wallets.conns = map[string]broker.WalletConnection{
		"c-done":    {ConnectionID: "c-done", State: "completed", Completed: true},
		"c-pending": {ConnectionID: "c-pending", State: "requested"},
	}
	if _, err := h.svc.VerifyConnection(ctx, "nope", ""); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("unknown connection: %v", err)
	}
	if _, err := h.svc.VerifyConnection(ctx, "c-pending", ""); !errors.Is(err, broker.ErrInvalidInput) {
		t.Fatalf("connection not completed: %v", err)
	}
	if _, err := h.svc.VerifyConnection(ctx, "c-done", "platinum"); !errors.Is(err, broker.ErrUnknownPolicy) {
		t.Fatalf("unknown policy: %v", err)
	}
	s, err := h.svc.VerifyConnection(ctx, "c-done", "")
	if err != nil {
		t.Fatal(err)
	}
	req := h.wallets.lastRequest(t)
	if s.Status != broker.StatusRequested || s.InvitationID != "" || req.connectionID != "c-done" || req.threadID != s.ThreadID {
		t.Fatalf("session %+v request %+v", s, req)
	}
	present(h, walletPeer{ThreadID: s.ThreadID, ConnectionID: "c-done"}, "ok:did:key:holder")
	h.status(t, s.ID, broker.StatusBound)
}

func TestListAndEraseIdentities(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.wallets.conns = map[string]broker.WalletConnection{}
	var ids []string
	for i := range 5 {
		s, peer := h.requested(t)
		h.wallets.conns[peer.ConnectionID] = broker.WalletConnection{ConnectionID: peer.ConnectionID, State: "completed", Completed: true}
		present(h, peer, fmt.Sprintf("ok:did:key:holder-%d", i))
		ids = append(ids, h.status(t, s.ID, broker.StatusBound).IdentityID)
	}
	var got []string
	cursor := ""
	for {
		page, err := h.svc.ListIdentities(ctx, broker.IdentityFilter{}, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range page.Items {
			got = append(got, x.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("paged %v, want %v", got, ids)
	}
	for _, bad := range []int{0, -1, broker.MaxPageSize + 1} {
		if _, err := h.svc.ListIdentities(ctx, broker.IdentityFilter{}, "", bad); !errors.Is(err, broker.ErrInvalidInput) {
			t.Errorf("limit %d: %v", bad, err)
		}
	}

	victim, _ := h.svc.Identity(ctx, ids[2])
	if err := h.svc.EraseIdentity(ctx, victim.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Identity(ctx, victim.ID); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("erased identity still readable: %v", err)
	}
	if _, err := h.svc.IdentityByFlex(ctx, victim.FlexIdentity); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("erased identity still found by pseudonym: %v", err)
	}
	if fmt.Sprint(h.wallets.removed) != fmt.Sprint([]string{victim.ConnectionID}) {
		t.Fatalf("connections removed: %v, want %s", h.wallets.removed, victim.ConnectionID)
	}
	if err := h.svc.EraseIdentity(ctx, victim.ID); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("erasing twice: %v", err)
	}
}

// outageStore fails the operations the test switches off, as a store that cannot be reached.
type outageStore struct {
	broker.Store
	transitions, threads atomic.Bool
}

func (s *outageStore) Transition(ctx context.Context, id string, t broker.Transition, now time.Time) (*broker.Session, error) {
	if s.transitions.Load() {
		return nil, fmt.Errorf("redis: connection refused: %w", broker.ErrUnavailable)
	}
	return s.Store.Transition(ctx, id, t, now)
}

func (s *outageStore) SessionByThread(ctx context.Context, thread string) (*broker.Session, error) {
	if s.threads.Load() {
		return nil, fmt.Errorf("redis: connection refused: %w", broker.ErrUnavailable)
	}
	return s.Store.SessionByThread(ctx, thread)
}

// TestStoreOutageIsNotTheWalletsFault: a presentation that arrives while the store cannot be
// read or written is answered internal_error (not unknown_thread or replayed, which a wallet
// takes as final), and nothing is recorded.
func TestStoreOutageIsNotTheWalletsFault(t *testing.T) {
	h := newHarness(t)
	store := &outageStore{Store: h.store}
	svc, err := broker.New(broker.Config{
		Domain: "https://verify.example.com", Policies: testPolicies(),
		DefaultPolicy: "default", PseudonymKey: make([]byte, 32), SessionTTL: time.Minute, Now: h.clock.Now,
	}, broker.Deps{Store: store, Events: broker.NewLocalEvents(), Wallets: h.wallets, Verifier: h.verify, Chats: h.chats})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(context.Background())
	for _, tc := range []struct {
		name string
		fail *atomic.Bool
		vp   string
	}{
		{"session not readable", &store.threads, "ok:did:key:holder"},
		{"verified not writable", &store.transitions, "ok:did:key:holder"},
		{"rejected not writable", &store.transitions, "reject:untrusted_issuer"},
	} {
		s, peer := h.requested(t)
		tc.fail.Store(true)
		presentTo(svc, h.wallets, peer, tc.vp)
		tc.fail.Store(false)
		if got := h.wallets.rejection(peer.ThreadID); got != broker.ReasonInternal {
			t.Errorf("%s: the wallet was told %q, want %q", tc.name, got, broker.ReasonInternal)
		}
		if got := h.status(t, s.ID, broker.StatusRequested); got.IdentityID != "" {
			t.Errorf("%s: an identity was recorded", tc.name)
		}
	}
	// A genuine race is still "replayed".
	s, peer := h.requested(t)
	present(h, peer, "ok:did:key:holder")
	h.status(t, s.ID, broker.StatusBound)
	presentTo(svc, h.wallets, peer, "ok:did:key:holder")
	if got := h.wallets.rejection(peer.ThreadID); got != broker.ReasonReplayed {
		t.Errorf("a second presentation on a verified session: %q, want replayed", got)
	}
}

// The code a session's page shows is the one its invitation and its presentation request
// carry, and it stays with the session.
func TestConfirmationCode(t *testing.T) {
	h := newHarness(t)
	s, _ := h.requested(t)
	if !confirm.Valid(s.ConfirmationCode) {
		t.Fatalf("session's confirmation code %q is not a valid code", s.ConfirmationCode)
	}
	if got := h.wallets.invitationCode(s.InvitationID); got != s.ConfirmationCode {
		t.Errorf("invitation made with code %q, session shows %q", got, s.ConfirmationCode)
	}
	if got := h.wallets.lastRequest(t).req.ConfirmationCode; got != s.ConfirmationCode {
		t.Errorf("presentation request carries code %q, session shows %q", got, s.ConfirmationCode)
	}
	t.Run("a returning customer's request carries its session's code", func(t *testing.T) {
		h.wallets.conns = map[string]broker.WalletConnection{"c1": {ConnectionID: "c1", State: "completed", Completed: true}}
		s, err := h.svc.VerifyConnection(context.Background(), "c1", "")
		if err != nil {
			t.Fatal(err)
		}
		if req := h.wallets.lastRequest(t).req; !confirm.Valid(s.ConfirmationCode) || req.ConfirmationCode != s.ConfirmationCode {
			t.Fatalf("session code %q, request code %q", s.ConfirmationCode, req.ConfirmationCode)
		}
	})
	t.Run("sessions get different codes", func(t *testing.T) {
		// 40 codes out of 2^20: all distinct but with probability 1 - 40·39/2/2^20 ≈ 99.93 %;
		// allow one repeat, so a flake needs two (≈ 3·10^-7).
		seen, dups := map[string]bool{}, 0
		for range 40 {
			s, err := h.svc.CreateSession(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if seen[s.ConfirmationCode] {
				dups++
			}
			seen[s.ConfirmationCode] = true
		}
		if dups > 1 {
			t.Fatalf("%d repeated codes among 40 sessions: %v", dups, seen)
		}
	})
	t.Run("a transition cannot change the code", func(t *testing.T) {
		_, err := h.store.Transition(context.Background(), s.ID, broker.Transition{
			From: []broker.Status{broker.StatusRequested}, To: broker.StatusRejected,
			Apply: func(x *broker.Session) { x.ConfirmationCode = "ZZZZ" },
		}, time.Now())
		if err == nil {
			t.Fatal("a transition changed the confirmation code")
		}
		if got := h.status(t, s.ID, broker.StatusRequested); got.ConfirmationCode != s.ConfirmationCode {
			t.Fatalf("code %q after a refused change, want %q", got.ConfirmationCode, s.ConfirmationCode)
		}
	})
}

// TestSummaryNamesTheIssuerOnlyAsThePolicyDoes: the agent sees the policy's name for the
// issuer, no name when the policy gives none, and only the display claims either way.
func TestSummaryNamesTheIssuerOnlyAsThePolicyDoes(t *testing.T) {
	ident := &broker.Identity{IssuerDID: "did:web:bank.example", CredentialType: "VerifiedCustomer",
		Assurance: "substantial", VerifiedAt: time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC),
		Claims: map[string]any{"givenName": "Ada", "memberId": "12345"}}
	named := broker.Policy{DisplayClaims: []string{"givenName"},
		IssuerNames: map[string]string{"did:web:bank.example": "Example Bank", "did:web:other.example": "Other"}}
	sum := broker.Summary(ident, named)
	want := map[string]any{"verified": true, "issuer": "did:web:bank.example", "issuer_name": "Example Bank",
		"credential_type": "VerifiedCustomer", "assurance": "substantial", "verified_at": "2026-12-06T07:00:00Z",
		"claims": map[string]any{"givenName": "Ada"}}
	if !reflect.DeepEqual(sum, want) {
		t.Fatalf("summary %v, want %v", sum, want)
	}
	ident.IssuerDID = "did:web:unnamed.example"
	if sum := broker.Summary(ident, named); sum["issuer_name"] != nil {
		t.Fatalf("an issuer the policy does not name got a name: %v", sum)
	}
}
