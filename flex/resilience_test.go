package flex_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	conversations "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// modes are the two kinds of Flex account, with the operation that creates
// a chat in each.
var modes = []struct {
	name     string
	modify   func(*flex.Config)
	createOp string
}{
	{"conversations", func(*flex.Config) {}, "CreateWebChannel"},
	{"flexflow", flexFlowMode, "CreateChannel"},
}

// tasks counts the TaskRouter tasks Flex created: one per chat opened, once
// its customer wrote (see firstMessage).
func tasks(t *testing.T, cfg flex.Config) int {
	t.Helper()
	list, err := restFor(t, cfg).TaskrouterV1.ListTask(emulator.DevConfig().WorkspaceSID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// activeChats counts identity's open chats.
func activeChats(t *testing.T, cfg flex.Config, identity string) int {
	t.Helper()
	rc := restFor(t, cfg)
	n := 0
	if cfg.Mode == flex.ModeFlexFlow {
		ucs, err := rc.ChatV2.ListUserChannel(cfg.ChatServiceSID, identity, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, uc := range ucs {
			ch, err := rc.ChatV2.FetchChannel(cfg.ChatServiceSID, *uc.ChannelSid)
			if err != nil {
				t.Fatal(err)
			}
			if decode(t, *ch.Attributes).(map[string]any)["status"] == "ACTIVE" {
				n++
			}
		}
		return n
	}
	pcs, err := rc.ConversationsV1.ListParticipantConversation((&conversations.ListParticipantConversationParams{}).SetIdentity(identity))
	if err != nil {
		t.Fatal(err)
	}
	for _, pc := range pcs {
		if *pc.ConversationState == "active" {
			n++
		}
	}
	return n
}

func request(identity, key string) flex.ChatRequest {
	return flex.ChatRequest{Identity: identity, CustomerFriendlyName: "Verified customer", ChatFriendlyName: "Verified chat " + key,
		Attributes: summary(), IdempotencyKey: key}
}

func TestBurstOf429ThenSuccessOpensOneChat(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			c, emu, cfg := setup(t, nil, m.modify)
			emu.InjectFault(emulator.Fault{Op: m.createOp, Status: http.StatusTooManyRequests, RetryAfter: time.Second, Times: 2})
			start := time.Now()
			chat, err := c.OpenChat(context.Background(), request("hr_burst", "s1"))
			if err != nil {
				t.Fatalf("OpenChat: %v", err)
			}
			if waited := time.Since(start); waited < 2*time.Second {
				t.Errorf("OpenChat returned after %v: Retry-After (1s, twice) was not honoured", waited)
			}
			if chat.SID() == "" || chat.Reused {
				t.Errorf("chat = %+v", chat)
			}
			firstMessage(t, cfg, chat, "hr_burst")
			if n := tasks(t, cfg); n != 1 {
				t.Errorf("%d chats opened, want exactly 1", n)
			}
			if n := count(emu.Requests(), m.createOp); n != 3 {
				t.Errorf("%d create calls, want 3 (two 429s, one success)", n)
			}
		})
	}
}

func TestPersistent500ThenALaterCallSucceeds(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			c, emu, cfg := setup(t, nil, m.modify, func(c *flex.Config) {
				c.Retry.MaxAttempts = 3
				c.Breaker.Failures = 100
			})
			emu.InjectFault(emulator.Fault{Op: m.createOp, Status: http.StatusInternalServerError})
			chat, err := c.OpenChat(context.Background(), request("hr_outage", "s1"))
			var fe *flex.Error
			if !errors.As(err, &fe) || fe.Status != 500 || fe.Code != 20500 || !fe.Temporary() {
				t.Fatalf("OpenChat = %+v, %v; want Twilio's 500 (code 20500), temporary", chat, err)
			}
			if chat.SID() != "" {
				t.Errorf("a failed OpenChat returned chat %+v", chat)
			}
			if n := count(emu.Requests(), m.createOp); n != 3 {
				t.Errorf("%d create calls, want 3 attempts", n)
			}

			emu.ClearFaults()
			chat, err = c.OpenChat(context.Background(), request("hr_outage", "s1"))
			if err != nil || chat.SID() == "" || chat.Reused {
				t.Fatalf("after the outage: %+v, %v; want a new chat", chat, err)
			}
			firstMessage(t, cfg, chat, "hr_outage")
			if n := tasks(t, cfg); n != 1 {
				t.Errorf("%d chats opened, want exactly 1", n)
			}
		})
	}
}

func TestConcurrentOpenChatWithOneKeyOpensOneChat(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			c, emu, cfg := setup(t, nil, m.modify)
			// A second service instance: another Client, same account.
			other, err := flex.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			const n = 8
			sids := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				client := c
				if i%2 == 1 {
					client = other
				}
				wg.Go(func() {
					chat, err := client.OpenChat(context.Background(), request("hr_concurrent", "s1"))
					if err != nil {
						t.Error(err)
						return
					}
					sids[i] = chat.SID()
				})
			}
			wg.Wait()
			for i := range sids {
				if sids[i] != sids[0] {
					t.Fatalf("chats %v: want one", sids)
				}
			}
			if got := activeChats(t, cfg, "hr_concurrent"); got != 1 {
				t.Errorf("%d active chats, want 1", got)
			}
			t.Logf("%d create calls for %d concurrent OpenChat on two instances", count(emu.Requests(), m.createOp), n)
		})
	}
}

func TestLostResponseFindsTheChatTwilioCreated(t *testing.T) {
	for _, m := range modes {
		for _, tt := range []struct {
			name  string
			fault emulator.Fault
			key   string
		}{
			{"500 after the create", emulator.Fault{Status: http.StatusInternalServerError, Apply: true, Times: 1}, "s1"},
			{"timeout after the create", emulator.Fault{Delay: 3 * time.Second, Apply: true, Times: 1}, "s1"},
		} {
			t.Run(m.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				c, emu, cfg := setup(t, nil, m.modify, func(c *flex.Config) {
					c.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
				})
				f := tt.fault
				f.Op = m.createOp
				emu.InjectFault(f)
				chat, err := c.OpenChat(context.Background(), request("hr_lost", tt.key))
				if err != nil {
					t.Fatalf("OpenChat: %v", err)
				}
				if !chat.Reused {
					t.Errorf("chat = %+v; want the one the lost call created", chat)
				}
				firstMessage(t, cfg, chat, "hr_lost")
				if n := tasks(t, cfg); n != 1 {
					t.Errorf("%d chats opened, want exactly 1", n)
				}
				if n := count(emu.Requests(), m.createOp); n != 1 {
					t.Errorf("%d create calls, want 1", n)
				}
				// The summary reached the chat all the same.
				if got := verificationOf(t, cfg, chat); got == nil {
					t.Error("the chat has no verification summary")
				}
			})
		}
	}
}

// verificationOf reads the summary stored in a chat's attributes.
func verificationOf(t *testing.T, cfg flex.Config, chat flex.Chat) any {
	t.Helper()
	if chat.ChannelSID != "" {
		ch, err := restFor(t, cfg).ChatV2.FetchChannel(cfg.ChatServiceSID, chat.ChannelSID)
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, *ch.Attributes).(map[string]any)["verification"]
	}
	return fetchAttributes(t, cfg, chat.ConversationSID)["verification"]
}

func TestCircuitBreakerOpensAndRecovers(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			c, emu, cfg := setup(t, nil, m.modify, func(c *flex.Config) {
				c.Retry.MaxAttempts = 2
				c.Breaker = flex.Breaker{Failures: 3, OpenFor: 200 * time.Millisecond}
			})
			emu.InjectFault(emulator.Fault{Op: "*", Status: http.StatusServiceUnavailable})
			var err error
			for i := 0; i < 5 && !errors.Is(err, flex.ErrCircuitOpen); i++ {
				_, err = c.OpenChat(context.Background(), request("hr_breaker", fmt.Sprint("s", i)))
				var fe *flex.Error
				if !errors.As(err, &fe) || !fe.Temporary() {
					t.Fatalf("OpenChat %d = %v; want a temporary *flex.Error", i, err)
				}
			}
			if !errors.Is(err, flex.ErrCircuitOpen) {
				t.Fatalf("the breaker did not open: %v", err)
			}
			// Open: refused at once, without calling Twilio.
			before := len(emu.Requests())
			_, err = c.OpenChat(context.Background(), request("hr_breaker", "s9"))
			var fe *flex.Error
			if !errors.As(err, &fe) || !errors.Is(err, flex.ErrCircuitOpen) || !fe.Temporary() || fe.Status != 0 {
				t.Errorf("OpenChat while open = %v; want ErrCircuitOpen, temporary", err)
			}
			if after := len(emu.Requests()); after != before {
				t.Errorf("%d calls reached Twilio while the breaker was open", after-before)
			}

			// Twilio recovers; after OpenFor, a trial call closes the breaker.
			emu.ClearFaults()
			deadline := time.Now().Add(5 * time.Second)
			for {
				chat, err := c.OpenChat(context.Background(), request("hr_breaker", "s10"))
				if err == nil {
					if chat.SID() == "" {
						t.Fatalf("chat = %+v", chat)
					}
					firstMessage(t, cfg, chat, "hr_breaker")
					break
				}
				if !errors.Is(err, flex.ErrCircuitOpen) || time.Now().After(deadline) {
					t.Fatalf("after recovery: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if n := tasks(t, cfg); n != 1 {
				t.Errorf("%d chats opened, want 1", n)
			}
		})
	}
}

func TestRetryAfterBeyondTheBudgetEndsTheRetries(t *testing.T) {
	c, emu, _ := setup(t, nil, func(c *flex.Config) { c.Retry.Total = time.Second })
	emu.InjectFault(emulator.Fault{Op: "CreateWebChannel", Status: http.StatusTooManyRequests, RetryAfter: 30 * time.Second})
	_, err := c.OpenChat(context.Background(), request("hr_patience", "s1"))
	var fe *flex.Error
	if !errors.As(err, &fe) || fe.Status != 429 || fe.Code != 20429 || fe.RetryAfter != 30*time.Second || !fe.Temporary() {
		t.Fatalf("OpenChat = %v; want the 429 with its Retry-After", err)
	}
	if n := count(emu.Requests(), "CreateWebChannel"); n != 1 {
		t.Errorf("%d create calls, want 1: waiting 30s does not fit in 1s", n)
	}
}

// A returning customer's new session gets a chat of its own, even while an
// earlier session's chat is still open (Flex leaves orphans open): only a
// call for the same session adopts a chat. The customer keeps one user.
func TestReturningCustomerGetsANewChatAndKeepsOneUser(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			c, _, cfg := setup(t, nil, m.modify)
			first, err := c.OpenChat(context.Background(), request("hr_returning", "s1"))
			if err != nil {
				t.Fatal(err)
			}
			firstMessage(t, cfg, first, "hr_returning")
			// The same session again (a retried bind): its own chat.
			again, err := c.OpenChat(context.Background(), request("hr_returning", "s1"))
			if err != nil || again.SID() != first.SID() || !again.Reused {
				t.Fatalf("again = %+v, %v; want the session's chat %s adopted", again, err, first.SID())
			}
			// A second session while the first chat is still open: a new chat,
			// with its own summary; the first keeps its own.
			newer := request("hr_returning", "s2")
			newer.Attributes = map[string]any{"verified": true, "issuer": "Other Bank", "claims": map[string]any{}}
			second, err := c.OpenChat(context.Background(), newer)
			if err != nil || second.SID() == first.SID() || second.Reused {
				t.Fatalf("second = %+v, %v; want a new chat, not %s", second, err, first.SID())
			}
			if got := verificationOf(t, cfg, second); got.(map[string]any)["issuer"] != "Other Bank" {
				t.Errorf("verification = %v, want the newer summary", got)
			}
			if got := verificationOf(t, cfg, first); got.(map[string]any)["issuer"] != "Example Bank" {
				t.Errorf("the earlier chat's verification = %v, want its own", got)
			}
			firstMessage(t, cfg, second, "hr_returning")
			// One user for the identity throughout.
			rc := restFor(t, cfg)
			if cfg.Mode == flex.ModeFlexFlow {
				u, err := rc.ChatV2.FetchUser(cfg.ChatServiceSID, "hr_returning")
				if err != nil || u.JoinedChannelsCount != 2 {
					t.Errorf("chat user = %+v, %v; want one user in 2 channels", u, err)
				}
			} else {
				pcs, err := rc.ConversationsV1.ListParticipantConversation((&conversations.ListParticipantConversationParams{}).SetIdentity("hr_returning"))
				if err != nil || len(pcs) != 2 || *pcs[0].ParticipantUserSid != *pcs[1].ParticipantUserSid {
					t.Errorf("participant conversations = %+v, %v; want 2 conversations of one user", pcs, err)
				}
			}
			if n := tasks(t, cfg); n != 2 {
				t.Errorf("%d chats opened, want 2", n)
			}
		})
	}
}

// An earlier session's chat that never got its name (the response to its
// creation was lost and nobody retried) is that session's: a new session
// does not adopt it, while a retry of the earlier session does.
func TestUnnamedChatOfAnEarlierSessionIsNotAdopted(t *testing.T) {
	c, emu, cfg := setup(t, nil, func(c *flex.Config) { c.Retry.MaxAttempts = 1 })
	emu.InjectFault(emulator.Fault{Op: "CreateWebChannel", Status: http.StatusInternalServerError, Apply: true, Times: 1})
	if _, err := c.OpenChat(context.Background(), request("hr_orphan", "old")); err == nil {
		t.Fatal("OpenChat succeeded despite the lost response")
	}
	if n := activeChats(t, cfg, "hr_orphan"); n != 1 {
		t.Fatalf("%d active chats after the lost response, want 1", n)
	}
	orphan := ""
	for _, conv := range emuConversations(t, cfg) {
		orphan = conv
	}
	chat, err := c.OpenChat(context.Background(), request("hr_orphan", "new"))
	if err != nil || chat.Reused || chat.SID() == orphan {
		t.Fatalf("new session's chat = %+v, %v; want a new chat, not the orphan %s", chat, err, orphan)
	}
	retried, err := c.OpenChat(context.Background(), request("hr_orphan", "old"))
	if err != nil || !retried.Reused || retried.SID() != orphan {
		t.Fatalf("the old session's retry = %+v, %v; want its own chat %s", retried, err, orphan)
	}
}

// emuConversations lists the conversations' SIDs, oldest first.
func emuConversations(t *testing.T, cfg flex.Config) []string {
	t.Helper()
	list, err := restFor(t, cfg).ConversationsV1.ListConversation(nil)
	if err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, c := range list {
		sids = append(sids, *c.Sid)
	}
	return sids
}

// stale answers the first lookups after it is switched on as if Twilio had
// not indexed the chats yet: no conversations or channels for the customer,
// no channel by that name.
type stale struct {
	h     http.Handler
	on    atomic.Bool
	reads atomic.Int32 // stale answers left
}

func (s *stale) start(reads int32) { s.reads.Store(reads); s.on.Store(true) }

func (s *stale) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, body := 0, ""
	switch p := r.URL.Path; {
	case r.Method != http.MethodGet:
	case strings.HasSuffix(p, "/ParticipantConversations"):
		status, body = 200, `{"conversations":[],"meta":{"page":0,"page_size":50,"first_page_url":"https://conversations.twilio.com/v1/ParticipantConversations?PageSize=50&Page=0","previous_page_url":null,"url":"https://conversations.twilio.com/v1/ParticipantConversations?PageSize=50&Page=0","next_page_url":null,"key":"conversations"}}`
	case strings.Contains(p, "/Users/") && strings.HasSuffix(p, "/Channels"):
		status, body = 200, `{"channels":[],"meta":{"page":0,"page_size":50,"first_page_url":"https://chat.twilio.com/v2/x?Page=0","previous_page_url":null,"url":"https://chat.twilio.com/v2/x?Page=0","next_page_url":null,"key":"channels"}}`
	case strings.Contains(p, "/Channels/"+flex.UniqueNamePrefix):
		status, body = 404, `{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`
	}
	if status == 0 || !s.on.Load() || s.reads.Add(-1) < 0 {
		s.h.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// Two instances open the chat of one session at once and the second does
// not see the first's chat yet: the idempotency key's unique name settles
// it, and no second chat stays open.
func TestStaleReadsDoNotLeaveASecondChat(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := &stale{}
			a, emu, cfg := setup(t, func(h http.Handler) http.Handler { s.h = h; return s }, m.modify)
			b, err := flex.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			first, err := a.OpenChat(context.Background(), request("hr_stale", "s1"))
			if err != nil {
				t.Fatal(err)
			}
			s.start(map[string]int32{"conversations": 1, "flexflow": 2}[m.name])
			second, err := b.OpenChat(context.Background(), request("hr_stale", "s1"))
			s.on.Store(false)
			if err != nil || second.SID() != first.SID() || !second.Reused {
				t.Fatalf("second instance = %+v, %v; want %s, reused", second, err, first.SID())
			}
			if got := activeChats(t, cfg, "hr_stale"); got != 1 {
				t.Errorf("%d active chats, want 1", got)
			}
			if n := count(emu.Requests(), m.createOp); n != 2 {
				t.Errorf("%d create calls, want 2 (the stale instance created, or tried to)", n)
			}
		})
	}
}
