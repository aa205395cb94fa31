package flex_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twilio/twilio-go"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// withWorkspace is a setup modifier: the emulator's TaskRouter workspace.
func withWorkspace(c *flex.Config) { c.WorkspaceSID = emulator.DevConfig().WorkspaceSID }

const (
	erasedIdentity = "hr_erasetestcustomer"
	erasedName     = "Zebulon Quixotic"
)

// openCustomerChat opens a chat for the customer erasedIdentity, named erasedName, with a
// summary carrying the name too, and sends the customer's first message (which makes the task).
func openCustomerChat(t *testing.T, c *flex.Client, cfg flex.Config, key string) string {
	t.Helper()
	chat, err := c.OpenChat(context.Background(), flex.ChatRequest{
		Identity:             erasedIdentity,
		CustomerFriendlyName: erasedName,
		ChatFriendlyName:     "Verified chat " + key,
		Attributes:           map[string]any{"verified": true, "claims": map[string]any{"givenName": "Zebulon", "familyName": "Quixotic"}},
		IdempotencyKey:       key,
	})
	if err != nil {
		t.Fatal(err)
	}
	customerWrites(t, cfg, chat.ConversationSID, erasedIdentity)
	return chat.ConversationSID
}

// twilioText is everything the emulator serves about the customer's conversation, its
// participants, its tasks and the customer's user, as JSON text.
func twilioText(t *testing.T, rest *twilio.RestClient, sid string) string {
	t.Helper()
	var parts []any
	if conv, err := rest.ConversationsV1.FetchConversation(sid); err == nil {
		parts = append(parts, conv)
		ps, err := rest.ConversationsV1.ListConversationParticipant(sid, nil)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, ps)
	}
	tasks, err := rest.TaskrouterV1.ListTask(emulator.DevConfig().WorkspaceSID, nil)
	if err != nil {
		t.Fatal(err)
	}
	user, err := rest.ConversationsV1.FetchUser(erasedIdentity)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(append(parts, tasks, user))
	return string(raw)
}

func conversationGone(t *testing.T, rest *twilio.RestClient, sid string) bool {
	t.Helper()
	_, err := rest.ConversationsV1.FetchConversation(sid)
	return err != nil && strings.Contains(err.Error(), "404")
}

func TestErase(t *testing.T) {
	t.Run("scrubs the conversation, its participants, its task and the user", func(t *testing.T) {
		c, _, cfg := setup(t, nil, withWorkspace)
		rest := restFor(t, cfg)
		sid := openCustomerChat(t, c, cfg, "s1")
		before := twilioText(t, rest, sid)
		for _, v := range []string{erasedName, "Quixotic", "verification", "pre_engagement_data"} {
			if !strings.Contains(before, v) {
				t.Fatalf("before the erasure, %q is nowhere: the check is blind\n%s", v, before)
			}
		}
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}}); err != nil {
			t.Fatal(err)
		}
		after := twilioText(t, rest, sid)
		for _, v := range []string{erasedName, "Zebulon", "Quixotic", `verification`, "pre_engagement_data"} {
			if strings.Contains(after, v) {
				t.Errorf("after the erasure, %q remains:\n%s", v, after)
			}
		}
		attrs := fetchAttributes(t, cfg, sid)
		if attrs["from"] != erasedIdentity {
			t.Errorf("conversation attributes %v: from is not the pseudonym", attrs)
		}
		task := onlyTask(t, cfg)
		var ta map[string]any
		_ = json.Unmarshal([]byte(*task.Attributes), &ta)
		if ta["name"] != erasedIdentity || ta["from"] != erasedIdentity || ta["conversationSid"] != sid || ta["channelType"] != "web" {
			t.Errorf("task attributes %s: name/from not the pseudonym, or Flex's keys lost", *task.Attributes)
		}
		// Twice is harmless.
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}}); err != nil {
			t.Errorf("second erase: %v", err)
		}
	})

	t.Run("finds the customer's conversations the plan does not name", func(t *testing.T) {
		c, _, cfg := setup(t, nil, withWorkspace)
		rest := restFor(t, cfg)
		sid := openCustomerChat(t, c, cfg, "s1")
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity}); err != nil {
			t.Fatal(err)
		}
		if after := twilioText(t, rest, sid); strings.Contains(after, "Quixotic") {
			t.Errorf("the customer's conversation kept the name:\n%s", after)
		}
	})

	t.Run("Delete deletes the conversation and scrubs its task", func(t *testing.T) {
		c, _, cfg := setup(t, nil, withWorkspace)
		rest := restFor(t, cfg)
		sid := openCustomerChat(t, c, cfg, "s1")
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}, Delete: true}); err != nil {
			t.Fatal(err)
		}
		if !conversationGone(t, rest, sid) {
			t.Error("the conversation still exists")
		}
		if after := twilioText(t, rest, sid); strings.Contains(after, "Quixotic") {
			t.Errorf("the customer's name remains:\n%s", after)
		}
	})

	t.Run("a closed conversation is deleted", func(t *testing.T) {
		c, emu, cfg := setup(t, nil, withWorkspace)
		rest := restFor(t, cfg)
		sid := openCustomerChat(t, c, cfg, "s1")
		if err := emu.CloseChat(sid); err != nil {
			t.Fatal(err)
		}
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}}); err != nil {
			t.Fatal(err)
		}
		if !conversationGone(t, rest, sid) {
			t.Error("the closed conversation still exists")
		}
		if after := twilioText(t, rest, sid); strings.Contains(after, "Quixotic") {
			t.Errorf("the customer's name remains (the ended task is not deleted?):\n%s", after)
		}
	})

	t.Run("50377/closed while erasing: deleted", func(t *testing.T) {
		var emu *emulator.Emulator
		var armed atomic.Bool
		// When armed, an update of a conversation finds it closed just now by an agent.
		closing := func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				rest, ok := strings.CutPrefix(r.URL.Path, emulator.PathPrefix+"conversations/v1/Conversations/")
				if ok && armed.Load() && r.Method == http.MethodPost && !strings.Contains(rest, "/") {
					_ = emu.CloseChat(rest)
				}
				next.ServeHTTP(w, r)
			})
		}
		c, e, cfg := setup(t, closing, withWorkspace)
		emu = e
		rest := restFor(t, cfg)
		sid := openCustomerChat(t, c, cfg, "s1")
		armed.Store(true)
		before := len(emu.Requests())
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}}); err != nil {
			t.Fatal(err)
		}
		if !conversationGone(t, rest, sid) {
			t.Error("the conversation closed while erasing still exists")
		}
		reqs := emu.Requests()[before:]
		if count(reqs, "UpdateConversation") != 1 || count(reqs, "DeleteConversation") != 1 {
			t.Errorf("%d UpdateConversation (refused: 50377) and %d DeleteConversation requests, want 1 and 1",
				count(reqs, "UpdateConversation"), count(reqs, "DeleteConversation"))
		}
	})

	t.Run("404/everything already gone is success", func(t *testing.T) {
		c, _, _ := setup(t, nil, withWorkspace)
		err := c.Erase(context.Background(), flex.ErasePlan{Identity: "hr_nobody", Conversations: []string{"CH" + strings.Repeat("0", 32)}})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a temporary failure is retried", func(t *testing.T) {
		c, emu, cfg := setup(t, nil, withWorkspace)
		rest := restFor(t, cfg)
		sid := openCustomerChat(t, c, cfg, "s1")
		emu.InjectFault(emulator.Fault{Op: "UpdateTask", Status: 503, Times: 2})
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}}); err != nil {
			t.Fatal(err)
		}
		if after := twilioText(t, rest, sid); strings.Contains(after, "Quixotic") {
			t.Errorf("the customer's name remains:\n%s", after)
		}
	})

	t.Run("a lasting failure is an *Error", func(t *testing.T) {
		c, emu, cfg := setup(t, nil, withWorkspace)
		sid := openCustomerChat(t, c, cfg, "s1")
		emu.InjectFault(emulator.Fault{Op: "UpdateConversation", Status: 400})
		err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}})
		var fe *flex.Error
		if !errors.As(err, &fe) || fe.Status != 400 || strings.Contains(err.Error(), cfg.AuthToken) {
			t.Errorf("err = %v, want a 400 *flex.Error", err)
		}
	})

	t.Run("without a workspace the tasks are left alone", func(t *testing.T) {
		c, emu, cfg := setup(t, nil)
		sid := openCustomerChat(t, c, cfg, "s1")
		if err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{sid}}); err != nil {
			t.Fatal(err)
		}
		if n := count(emu.Requests(), "ListTask"); n != 0 {
			t.Errorf("%d ListTask requests without a workspace", n)
		}
	})

	t.Run("Flex Flow mode is unsupported", func(t *testing.T) {
		c, emu, _ := setup(t, nil, flexFlowMode)
		err := c.Erase(context.Background(), flex.ErasePlan{Identity: erasedIdentity, Conversations: []string{"CH" + strings.Repeat("0", 32)}})
		if !errors.Is(err, flex.ErrEraseUnsupported) || len(emu.Requests()) != 0 {
			t.Errorf("err = %v after %d requests, want ErrEraseUnsupported and none", err, len(emu.Requests()))
		}
	})
}
