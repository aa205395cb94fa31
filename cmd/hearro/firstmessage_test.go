package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/flex/emulator"
)

// customerWrites posts the customer's message in their chat as the chat page does from the
// browser: through this service's /_twilio/ path, with the customer's access token. In
// Conversations-based Flex the first one runs the web chat address's Studio flow, which makes the
// agent's task.
func (s *testService) customerWrites(t testing.TB, conversationSID, token, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.url+"/_twilio/conversations/v1/Conversations/"+conversationSID+"/Messages",
		strings.NewReader(url.Values{"Body": {body}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("the customer's message: %d", resp.StatusCode)
	}
}

// agentTask is a task, as TaskRouter serves it.
type agentTask struct {
	SID           string         `json:"sid"`
	Queue         string         `json:"task_queue_friendly_name"`
	Workflow      string         `json:"workflow_sid"`
	RawAttributes string         `json:"attributes"`
	Attributes    map[string]any `json:"-"`
}

// tasksOf returns the tasks of a conversation.
func (s *testService) tasksOf(t testing.TB, conversationSID string) []agentTask {
	t.Helper()
	dev := emulator.DevConfig()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/_twilio/taskrouter/v1/Workspaces/"+dev.WorkspaceSID+"/Tasks?PageSize=1000", nil)
	req.SetBasicAuth(dev.AccountSID, dev.AuthToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Tasks []agentTask `json:"tasks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	var out []agentTask
	for _, task := range list.Tasks {
		if err := json.Unmarshal([]byte(task.RawAttributes), &task.Attributes); err != nil {
			t.Fatalf("task attributes %q: %v", task.RawAttributes, err)
		}
		if task.Attributes["conversationSid"] == conversationSID {
			out = append(out, task)
		}
	}
	return out
}
