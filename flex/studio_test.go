package flex

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/flex/emulator"
)

func TestShippedStudioFlow(t *testing.T) {
	dev := emulator.DevConfig()
	def, err := StudioFlow(dev.WorkflowSID, dev.TaskChannelSID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(def), "${") {
		t.Errorf("placeholders left in %s", def)
	}
	var flow struct {
		InitialState string `json:"initial_state"`
		States       []struct {
			Name        string `json:"name"`
			Type        string `json:"type"`
			Transitions []struct{ Event, Next string }
			Properties  map[string]any `json:"properties"`
		} `json:"states"`
	}
	if err := json.Unmarshal(def, &flow); err != nil {
		t.Fatalf("the shipped flow is not JSON: %v", err)
	}
	if len(flow.States) != 2 || flow.InitialState != "Trigger" || flow.States[0].Type != "trigger" || flow.States[1].Type != "send-to-flex" {
		t.Fatalf("flow = %+v", flow)
	}
	found := false
	for _, tr := range flow.States[0].Transitions {
		found = found || tr.Event == "incomingConversationMessage" && tr.Next == flow.States[1].Name
	}
	if p := flow.States[1].Properties; !found || p["workflow"] != dev.WorkflowSID || p["channel"] != dev.TaskChannelSID {
		t.Errorf("trigger → send-to-flex %v, properties %v", found, p)
	}

	templates, err := sendToFlexAttributes(def)
	if err != nil || len(templates) != 1 {
		t.Fatalf("templates %v, %v", templates, err)
	}
	// Studio limits the widget's attributes field to 1,024 characters.
	if n := len([]rune(templates[0])); n > MaxSendToFlexAttributes {
		t.Errorf("the attributes template has %d characters, more than Studio's %d", n, MaxSendToFlexAttributes)
	}
	for _, want := range []string{`"name": {{`, `"from": {{`, `"channelType": "web"`, `"conversationSid": "{{trigger.conversation.ConversationSid}}"`,
		`"verification": {{trigger.conversation.ChannelAttributes.verification | to_json}}`} {
		if !strings.Contains(templates[0], want) {
			t.Errorf("the attributes template lacks %s", want)
		}
	}

	for _, bad := range [][2]string{{"WW1", dev.TaskChannelSID}, {dev.WorkflowSID, "chat"}} {
		if _, err := StudioFlow(bad[0], bad[1]); err == nil {
			t.Errorf("StudioFlow(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if string(StudioFlowDefinition()) != string(studioFlowTemplate) || !strings.Contains(string(StudioFlowDefinition()), "${WORKFLOW_SID}") {
		t.Error("StudioFlowDefinition is not the shipped file")
	}
}

// The emulator's workspace routes with the workflow configuration this
// package ships.
func TestShippedWorkflowConfigurationIsTheEmulators(t *testing.T) {
	if string(workflowTemplate) != emulator.WorkflowConfigurationTemplate {
		t.Errorf("flex/studio/workflow.json and emulator.WorkflowConfigurationTemplate differ:\n%s\n%s", workflowTemplate, emulator.WorkflowConfigurationTemplate)
	}
	cfg, err := WorkflowConfiguration("WQ00000000000000000000000000000001", "WQ00000000000000000000000000000002")
	if err != nil || !json.Valid(cfg) || strings.Contains(string(cfg), "${") {
		t.Errorf("WorkflowConfiguration = %s, %v", cfg, err)
	}
	if _, err := WorkflowConfiguration("Everyone", "WQ00000000000000000000000000000002"); err == nil {
		t.Error("a queue name accepted")
	}
}
