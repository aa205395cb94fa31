package emulator_test

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	studio "github.com/twilio/twilio-go/rest/studio/v2"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// shippedFlowConfig is the development account with the web chat address
// running the Studio flow this product ships, as `hearro flex setup` leaves
// it.
func shippedFlowConfig(t *testing.T) emulator.Config {
	t.Helper()
	cfg := emulator.DevConfig()
	def, err := flex.StudioFlow(cfg.WorkflowSID, cfg.TaskChannelSID)
	if err != nil {
		t.Fatal(err)
	}
	cfg.StudioFlowName, cfg.StudioFlowDefinition = flex.StudioFlowName, string(def)
	return cfg
}

// customerSays posts body in conversation sid as customer identity does from
// the browser: with the customer's access token.
func customerSays(t *testing.T, srv *httptest.Server, sid, identity, body string) {
	t.Helper()
	token, _, err := tokenClient(t, flex.ModeConversations).Token(identity, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	status, m := customerCall(t, srv, "POST", "/_twilio/conversations/v1/Conversations/"+sid+"/Messages", token, "", url.Values{"Body": {body}})
	if status != 201 {
		t.Fatalf("the customer's message: %d %v", status, m)
	}
}

// tasks lists the workspace's tasks.
func tasks(t *testing.T, rc *twilio.RestClient) []taskrouter.TaskrouterV1Task {
	t.Helper()
	list, err := rc.TaskrouterV1.ListTask(emulator.DevConfig().WorkspaceSID, nil)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func taskAttrs(t *testing.T, task taskrouter.TaskrouterV1Task) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(deref(task.Attributes)), &m); err != nil {
		t.Fatalf("task attributes %q: %v", deref(task.Attributes), err)
	}
	return m
}

// summary is a verification summary as the service writes it.
const summary = `{"verified":true,"issuer":"did:web:bank.example","issuer_name":"Example Bank","credential_type":"VerifiedCustomer",` +
	`"assurance":"substantial","verified_at":"2026-01-02T03:04:05Z","claims":{"givenName":"Ada"}}`

// openVerifiedChat opens a web chat as the service does: the web chat, then
// the verification summary in the conversation's attributes.
func openVerifiedChat(t *testing.T, rc *twilio.RestClient, identity, name, verification string) string {
	t.Helper()
	pre := `{"friendlyName":` + mustJSON(name) + `}`
	sid := *createChat(t, rc, identity, name, "Verified chat", pre).ConversationSid
	conv, err := rc.ConversationsV1.FetchConversation(sid)
	if err != nil {
		t.Fatal(err)
	}
	attrs := map[string]any{}
	_ = json.Unmarshal([]byte(deref(conv.Attributes)), &attrs)
	if verification != "" {
		attrs["verification"] = json.RawMessage(verification)
	}
	if _, err := rc.ConversationsV1.UpdateConversation(sid, (&conversations.UpdateConversationParams{}).SetAttributes(mustJSON(attrs))); err != nil {
		t.Fatal(err)
	}
	return sid
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestTheFirstCustomerMessageRunsTheStudioFlow(t *testing.T) {
	emu, srv := startWith(t, shippedFlowConfig(t), nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	sid := openVerifiedChat(t, rc, "hr_ada", "Ada Lovelace", summary)
	if n := len(tasks(t, rc)); n != 0 {
		t.Fatalf("%d tasks right after the web chat; Flex makes none before the customer writes", n)
	}
	// Neither the system nor an agent starts the flow.
	if _, err := rc.ConversationsV1.CreateConversationMessage(sid, (&conversations.CreateConversationMessageParams{}).SetBody("Welcome")); err != nil {
		t.Fatal(err)
	}
	if err := emu.Reply(sid, "Hello from an agent"); err != nil {
		t.Fatal(err)
	}
	if n := len(tasks(t, rc)); n != 0 {
		t.Fatalf("%d tasks after the system's and an agent's messages", n)
	}

	customerSays(t, srv, sid, "hr_ada", "Hi, my card is blocked")
	customerSays(t, srv, sid, "hr_ada", "Anyone?")
	list := tasks(t, rc)
	if len(list) != 1 {
		t.Fatalf("%d tasks after two customer messages, want 1", len(list))
	}
	task := list[0]
	// Exactly the template's attributes, plus what Send to Flex adds for a
	// chat (customerAddress, customerName: the chat's identity).
	want := `{"name":"Ada Lovelace","from":"Ada Lovelace","channelType":"web","conversationSid":"` + sid + `",` +
		`"verification":` + summary + `,"customerAddress":"hr_ada","customerName":"hr_ada"}`
	assertJSON(t, deref(task.Attributes), want)
	if deref(task.WorkflowSid) != dev.WorkflowSID || deref(task.WorkflowFriendlyName) != "Assign to Anyone" ||
		deref(task.TaskQueueFriendlyName) != emulator.QueueVerified || deref(task.TaskChannelUniqueName) != "chat" ||
		deref(task.TaskChannelSid) != dev.TaskChannelSID || deref(task.AssignmentStatus) != "pending" {
		t.Errorf("task routing = workflow %s %q, queue %q, channel %q %s, status %s", deref(task.WorkflowSid), deref(task.WorkflowFriendlyName),
			deref(task.TaskQueueFriendlyName), deref(task.TaskChannelUniqueName), deref(task.TaskChannelSid), deref(task.AssignmentStatus))
	}
	queues, err := rc.TaskrouterV1.ListTaskQueue(dev.WorkspaceSID, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range queues {
		if deref(q.FriendlyName) == emulator.QueueVerified && deref(q.Sid) != deref(task.TaskQueueSid) {
			t.Errorf("task_queue_sid %s is not the verified queue %s", deref(task.TaskQueueSid), deref(q.Sid))
		}
	}
}

func TestRoutingOnVerification(t *testing.T) {
	_, srv := startWith(t, shippedFlowConfig(t), nil)
	rc := devRest(t, srv)
	unverified := `{"verified":false,"claims":{}}`
	for _, tt := range []struct {
		name, identity, verification, queue string
	}{
		{"verified/Verified customers", "hr_v", summary, emulator.QueueVerified},
		{"verified false/Everyone", "hr_u", unverified, emulator.QueueEveryone},
		{"no summary/Everyone", "hr_n", "", emulator.QueueEveryone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sid := openVerifiedChat(t, rc, tt.identity, "Someone", tt.verification)
			customerSays(t, srv, sid, tt.identity, "hello")
			for _, task := range tasks(t, rc) {
				if taskAttrs(t, task)["conversationSid"] == sid {
					if got := deref(task.TaskQueueFriendlyName); got != tt.queue {
						t.Errorf("queue %q, want %q", got, tt.queue)
					}
					return
				}
			}
			t.Fatal("no task")
		})
	}
}

func TestDefaultWebchatFlowWithoutOurs(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	// A new account's address runs Flex's "Webchat Flow".
	addr, err := rc.ConversationsV1.FetchConfigurationAddress(dev.AddressSID)
	if err != nil {
		t.Fatal(err)
	}
	auto := (*addr.AutoCreation).(map[string]any)
	flow, err := rc.StudioV2.FetchFlow(auto["studio_flow_sid"].(string))
	if err != nil || auto["type"] != "studio" || auto["enabled"] != true || deref(flow.FriendlyName) != emulator.DefaultWebchatFlowName {
		t.Fatalf("address auto_creation %v, flow %v, %v", auto, flow, err)
	}

	sid := openVerifiedChat(t, rc, "hr_grace", "Grace Hopper", summary)
	customerSays(t, srv, sid, "hr_grace", "hello")
	list := tasks(t, rc)
	if len(list) != 1 {
		t.Fatalf("%d tasks", len(list))
	}
	assertJSON(t, deref(list[0].Attributes), `{"from":"Grace Hopper","channelType":"web","customerAddress":"hr_grace",`+
		`"name":"hr_grace","customerName":"hr_grace","conversationSid":"`+sid+`"}`)
	if q := deref(list[0].TaskQueueFriendlyName); q != emulator.QueueEveryone {
		t.Errorf("queue %q: the default flow carries no verification", q)
	}

	// An address whose auto-creation names no Studio flow runs the same.
	if _, err := rc.ConversationsV1.UpdateConfigurationAddress(dev.AddressSID, (&conversations.UpdateConfigurationAddressParams{}).
		SetAutoCreationType("default")); err != nil {
		t.Fatal(err)
	}
	other := openVerifiedChat(t, rc, "hr_lin", "Lin", "")
	customerSays(t, srv, other, "hr_lin", "hi")
	if n := len(tasks(t, rc)); n != 2 {
		t.Fatalf("%d tasks, want 2", n)
	}
}

func TestNameWithQuotesCannotInjectAttributes(t *testing.T) {
	_, srv := startWith(t, shippedFlowConfig(t), nil)
	rc := devRest(t, srv)
	name := `Eve", "verification": {"verified": true}, "x": "`
	sid := openVerifiedChat(t, rc, "hr_eve", name, `{"verified":false}`)
	customerSays(t, srv, sid, "hr_eve", "hello")
	list := tasks(t, rc)
	if len(list) != 1 {
		t.Fatalf("%d tasks", len(list))
	}
	attrs := taskAttrs(t, list[0])
	if attrs["name"] != name || attrs["from"] != name || attrs["x"] != nil {
		t.Errorf("attributes %v", attrs)
	}
	if v, _ := attrs["verification"].(map[string]any); v["verified"] != false || deref(list[0].TaskQueueFriendlyName) != emulator.QueueEveryone {
		t.Errorf("the name changed the verification: %v, queue %q", attrs["verification"], deref(list[0].TaskQueueFriendlyName))
	}
}

func TestAFlowTheEmulatorCannotRunIsReported(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()
	bad := `{"initial_state":"Trigger","states":[{"name":"Trigger","type":"trigger","transitions":[{"event":"incomingConversationMessage","next":"Flex"}],"properties":{}},` +
		`{"name":"Flex","type":"send-to-flex","transitions":[],"properties":{"workflow":"` + dev.WorkflowSID + `","channel":"chat",` +
		`"attributes":"{\"name\": {{trigger.conversation.ChannelAttributes.from | upcase}}}"}}]}`
	var def any
	_ = json.Unmarshal([]byte(bad), &def)
	fl, err := rc.StudioV2.CreateFlow((&studio.CreateFlowParams{}).SetFriendlyName("Bad").SetStatus("published").SetDefinition(def))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.ConversationsV1.UpdateConfigurationAddress(dev.AddressSID, (&conversations.UpdateConfigurationAddressParams{}).
		SetAutoCreationStudioFlowSid(deref(fl.Sid))); err != nil {
		t.Fatal(err)
	}
	sid := openVerifiedChat(t, rc, "hr_bad", "Bad", "")
	customerSays(t, srv, sid, "hr_bad", "hello")
	if n := len(tasks(t, rc)); n != 0 {
		t.Fatalf("%d tasks from a flow the emulator cannot run", n)
	}
	page := getAgentView(t, srv)
	if !strings.Contains(page, "did not create the task") || !strings.Contains(page, "upcase") {
		t.Error("the agent view does not say why the flow made no task")
	}
}

func TestClosedConversationIsFinal(t *testing.T) {
	emu, srv := startWith(t, shippedFlowConfig(t), nil)
	rc := devRest(t, srv)
	sid := openVerifiedChat(t, rc, "hr_zed", "Zed", summary)
	if err := emu.CloseChat(sid); err != nil {
		t.Fatal(err)
	}
	want50377 := func(name string, err error) {
		t.Helper()
		var re *client.TwilioRestError
		if !errors.As(err, &re) || re.Code != 50377 || re.Status != 400 || re.Message != "Can't update conversation as it's in final closed state" {
			t.Errorf("%s: %v, want Twilio's 400 50377", name, err)
		}
	}
	_, err := rc.ConversationsV1.UpdateConversation(sid, (&conversations.UpdateConversationParams{}).SetAttributes(`{"a":1}`))
	want50377("update attributes", err)
	_, err = rc.ConversationsV1.UpdateConversation(sid, (&conversations.UpdateConversationParams{}).SetState("active"))
	want50377("reopen", err)
	_, err = rc.ConversationsV1.CreateConversationMessage(sid, (&conversations.CreateConversationMessageParams{}).SetBody("late"))
	want50377("message", err)
	token, _, _ := tokenClient(t, flex.ModeConversations).Token("hr_zed", time.Minute)
	status, body := customerCall(t, srv, "POST", "/_twilio/conversations/v1/Conversations/"+sid+"/Messages", token, "", url.Values{"Body": {"late"}})
	if status != 400 || body["code"] != float64(50377) {
		t.Errorf("the customer's message in a closed conversation: %d %v", status, body)
	}
	if conv, err := rc.ConversationsV1.FetchConversation(sid); err != nil || deref(conv.State) != "closed" {
		t.Errorf("after the refused changes: %v, %v", deref(conv.State), err)
	}
}

func TestStudioFlowsThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	def := map[string]any{"initial_state": "Trigger", "states": []any{map[string]any{"name": "Trigger", "type": "trigger", "transitions": []any{}, "properties": map[string]any{}}}}
	fl, err := rc.StudioV2.CreateFlow((&studio.CreateFlowParams{}).SetFriendlyName("Test").SetStatus("draft").SetDefinition(def))
	if err != nil {
		t.Fatal(err)
	}
	if !sidLike(deref(fl.Sid), "FW") || fl.Revision != 1 || deref(fl.Status) != "draft" || deref(fl.Valid) != true || fl.Definition == nil {
		t.Fatalf("created %+v", fl)
	}
	up, err := rc.StudioV2.UpdateFlow(deref(fl.Sid), (&studio.UpdateFlowParams{}).SetStatus("published").SetDefinition(def))
	if err != nil || up.Revision != 2 || deref(up.Status) != "published" {
		t.Fatalf("updated %+v, %v", up, err)
	}
	flows, err := rc.StudioV2.ListFlow(nil)
	if err != nil || len(flows) != 2 || deref(flows[1].FriendlyName) != "Test" {
		t.Fatalf("flows %+v, %v", flows, err)
	}
	if _, err := rc.StudioV2.CreateFlow((&studio.CreateFlowParams{}).SetFriendlyName("No definition").SetStatus("draft")); err == nil {
		t.Error("a flow without a definition was created")
	}
	if err := rc.StudioV2.DeleteFlow(deref(fl.Sid)); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.StudioV2.FetchFlow(deref(fl.Sid)); err == nil {
		t.Error("the deleted flow is still there")
	}
}

func TestWorkflowConfigurationThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()
	wf, err := rc.TaskrouterV1.FetchWorkflow(dev.WorkspaceSID, dev.WorkflowSID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(deref(wf.Configuration), "verification.verified == true") {
		t.Errorf("configuration %s", deref(wf.Configuration))
	}
	for _, bad := range []string{`{`, `{"task_routing":{"filters":[{"expression":"a ===","targets":[{"queue":"WQ00000000000000000000000000000000"}]}]}}`,
		`{"task_routing":{"filters":[],"default_filter":{"queue":"WQ00000000000000000000000000000000"}}}`} {
		if _, err := rc.TaskrouterV1.UpdateWorkflow(dev.WorkspaceSID, dev.WorkflowSID, (&taskrouter.UpdateWorkflowParams{}).SetConfiguration(bad)); err == nil {
			t.Errorf("configuration %s accepted", bad)
		}
	}
	queues, err := rc.TaskrouterV1.ListTaskQueue(dev.WorkspaceSID, nil)
	if err != nil || len(queues) != 2 {
		t.Fatalf("queues %v, %v", queues, err)
	}
	// Everything to Everyone.
	everyone := deref(queues[0].Sid)
	if _, err := rc.TaskrouterV1.UpdateWorkflow(dev.WorkspaceSID, dev.WorkflowSID, (&taskrouter.UpdateWorkflowParams{}).
		SetConfiguration(`{"task_routing":{"filters":[],"default_filter":{"queue":"`+everyone+`"}}}`)); err != nil {
		t.Fatal(err)
	}
	channels, err := rc.TaskrouterV1.ListTaskChannel(dev.WorkspaceSID, nil)
	found := false
	for _, c := range channels {
		found = found || deref(c.UniqueName) == "chat" && deref(c.Sid) == dev.TaskChannelSID
	}
	if err != nil || !found {
		t.Errorf("task channels %v, %v", channels, err)
	}
}
