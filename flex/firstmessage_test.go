package flex_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// customerWrites posts a message of the customer identity in conversation
// sid as the chat page does from the browser: with the customer's access
// token. In Conversations-based Flex that first message, not the web chat,
// runs the address's Studio flow, which creates the agent's task.
func customerWrites(t *testing.T, cfg flex.Config, sid, identity string) {
	t.Helper()
	c, err := flex.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := c.Token(identity, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, cfg.BaseURL+"/conversations/v1/Conversations/"+sid+"/Messages",
		strings.NewReader(url.Values{"Body": {"Hello"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("the customer's message: %d", resp.StatusCode)
	}
}

// onlyTask returns the workspace's one task.
func onlyTask(t *testing.T, cfg flex.Config) taskrouter.TaskrouterV1Task {
	t.Helper()
	list, err := restFor(t, cfg).TaskrouterV1.ListTask(emulator.DevConfig().WorkspaceSID, nil)
	if err != nil || len(list) != 1 {
		t.Fatalf("tasks = %d, %v; want 1", len(list), err)
	}
	return list[0]
}

// firstMessage is the customer's first message in chat, which in
// conversations mode makes the agent's task (see customerWrites). A legacy
// Flex Flow makes the task with the channel: nothing to do.
func firstMessage(t *testing.T, cfg flex.Config, chat flex.Chat, identity string) {
	t.Helper()
	if cfg.Mode != flex.ModeFlexFlow {
		customerWrites(t, cfg, chat.ConversationSID, identity)
	}
}

// The web chat's pre-engagement data carries the customer's friendly name,
// which the Studio flow makes the task's name and from: the agent sees the
// policy's name for the customer, not the pseudonym.
func TestTaskIsNamedForTheCustomer(t *testing.T) {
	for _, tt := range []struct{ name, friendly, want string }{
		{"display name", "Ada Lovelace", "Ada Lovelace"},
		{"neutral name", "Verified customer", "Verified customer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, _, cfg := setup(t, nil)
			if _, err := flex.Setup(t.Context(), setupConfig(cfg)); err != nil { // the shipped Studio flow
				t.Fatal(err)
			}
			req := request("hr_NAMED", "s-"+strings.ReplaceAll(tt.name, " ", "-"))
			req.CustomerFriendlyName = tt.friendly
			chat, err := c.OpenChat(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			pre := fetchAttributes(t, cfg, chat.ConversationSID)["pre_engagement_data"].(map[string]any)
			if pre["friendlyName"] != tt.want {
				t.Errorf("pre_engagement_data.friendlyName = %v, want %q", pre["friendlyName"], tt.want)
			}
			customerWrites(t, cfg, chat.ConversationSID, "hr_NAMED")
			var attrs map[string]any
			task := onlyTask(t, cfg)
			if err := json.Unmarshal([]byte(*task.Attributes), &attrs); err != nil {
				t.Fatal(err)
			}
			if attrs["name"] != tt.want || attrs["from"] != tt.want {
				t.Errorf("task name, from = %v, %v; want %q", attrs["name"], attrs["from"], tt.want)
			}
		})
	}
}
