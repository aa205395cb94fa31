package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
)

// What Flex does with a web chat's messages: a Flex web chat
// (POST /v2/WebChats) is a conversation on a web chat address and nothing
// more. Its customer's first message runs the Studio flow the address's
// auto-creation names; the flow's Send to Flex widget creates the task an
// agent is offered, with the attributes its template renders (plus those Send
// to Flex adds itself), routed by the widget's workflow. The emulator runs
// the one shape of flow Flex web chats use: the trigger's
// incomingConversationMessage transition leading to a send-to-flex widget.
// What it cannot run is recorded on the conversation (the agent view shows
// it) and logged; it never panics.

// conversationMessageAdded runs the address's flow for a customer's message
// in a web chat that has no task yet. e.mu must be held.
func (e *Emulator) conversationMessageAdded(c *conversation, m *message) {
	if c.task != nil || c.customer == "" || m.author != c.customer {
		return // a task exists, not a web chat, or not the customer (an agent, the system)
	}
	if err := e.runAddressFlow(c, m); err != nil {
		c.flowError = err.Error()
		log.Printf("twilio emulator: conversation %s: the Studio flow did not run: %v", c.sid, err)
		return
	}
	c.flowError = ""
}

// sendToFlex is a send-to-flex widget's properties.
type sendToFlex struct {
	Workflow   string `json:"workflow"`
	Channel    string `json:"channel"`
	Attributes string `json:"attributes"`
}

// runAddressFlow runs the flow of c's address for message m and creates the
// task. e.mu must be held.
func (e *Emulator) runAddressFlow(c *conversation, m *message) error {
	a := e.addresses.withSID(c.addressSID)
	if a == nil {
		return fmt.Errorf("address %s no longer exists", c.addressSID)
	}
	var definition string
	switch {
	case !a.autoEnabled || a.autoType != "studio":
		// An address without a Studio flow: the emulator runs Flex's default
		// Webchat Flow, as a new account's web chat address does.
		definition = defaultWebchatFlow(e.cfg.WorkflowSID, e.taskChannelSID)
	default:
		fl := e.studioFlows.withSID(a.autoStudioFlowSID)
		if fl == nil {
			return fmt.Errorf("address %s names Studio flow %s, which does not exist", a.sid, a.autoStudioFlowSID)
		}
		definition = fl.definition
	}
	widget, err := sendToFlexWidget(definition)
	if err != nil {
		return err
	}
	data := map[string]any{
		"trigger": map[string]any{"conversation": map[string]any{
			"ConversationSid":   c.sid,
			"MessageSid":        m.sid,
			"MessageIndex":      float64(m.index),
			"Author":            m.author,
			"Body":              m.body,
			"ParticipantSid":    m.participantSID,
			"Source":            "SDK",
			"EventType":         "onMessageAdded",
			"ChatServiceSid":    e.cfg.ConversationsServiceSID,
			"AccountSid":        e.cfg.AccountSID,
			"DateCreated":       timestamp(m.created),
			"ChannelAttributes": decodeAttrs(c.attributes),
		}},
		"flow": map[string]any{"flow_sid": a.autoStudioFlowSID},
	}
	rendered, err := renderLiquid(widget.Attributes, data)
	if err != nil {
		return fmt.Errorf("send-to-flex attributes: %w", err)
	}
	var attrs map[string]any
	if err := json.Unmarshal([]byte(rendered), &attrs); err != nil {
		return fmt.Errorf("send-to-flex attributes are not a JSON object once rendered (%v): %s", err, abbreviate(rendered))
	}
	if e.workflows.withSID(widget.Workflow) == nil {
		return fmt.Errorf("send-to-flex workflow %q is not a workflow of the workspace", widget.Workflow)
	}
	ch := e.taskChannels.get(widget.Channel)
	if ch == nil {
		return fmt.Errorf("send-to-flex channel %q is not a task channel of the workspace", widget.Channel)
	}
	t := e.createTask(flexTaskAttributes(c, attrs), widget.Workflow, ch)
	c.task = t
	return nil
}

// flexTaskAttributes are a Send to Flex task's attributes: what Send to Flex
// adds for a chat conversation — "channelType, customerAddress, from, name,
// and customerName" (https://www.twilio.com/docs/studio/widget-library/send-flex),
// the customer's address being a web chat's identity, and the conversation's
// SID, which Flex UI finds the conversation by — overridden by the
// attributes the widget's template rendered.
func flexTaskAttributes(c *conversation, rendered map[string]any) map[string]any {
	out := map[string]any{
		"channelType": "web", "customerAddress": c.customer, "from": c.customer,
		"name": c.customer, "customerName": c.customer, "conversationSid": c.sid,
	}
	for k, v := range rendered {
		out[k] = v
	}
	return out
}

// sendToFlexWidget finds, in a flow definition, the send-to-flex widget the
// trigger's incomingConversationMessage transition leads to.
func sendToFlexWidget(definition string) (sendToFlex, error) {
	var def struct {
		InitialState string `json:"initial_state"`
		States       []struct {
			Name        string `json:"name"`
			Type        string `json:"type"`
			Transitions []struct {
				Event string `json:"event"`
				Next  string `json:"next"`
			} `json:"transitions"`
			Properties json.RawMessage `json:"properties"`
		} `json:"states"`
	}
	if err := json.Unmarshal([]byte(definition), &def); err != nil {
		return sendToFlex{}, fmt.Errorf("the flow definition is not JSON: %v", err)
	}
	next := ""
	for _, s := range def.States {
		if s.Type != "trigger" {
			continue
		}
		for _, t := range s.Transitions {
			if t.Event == "incomingConversationMessage" {
				next = t.Next
			}
		}
	}
	if next == "" {
		return sendToFlex{}, errors.New("the flow's trigger does not go anywhere on incomingConversationMessage")
	}
	for _, s := range def.States {
		if s.Name != next {
			continue
		}
		if s.Type != "send-to-flex" {
			return sendToFlex{}, fmt.Errorf("the trigger leads to %q, a %s widget; the emulator runs only a send-to-flex widget there", s.Name, s.Type)
		}
		var w sendToFlex
		if err := json.Unmarshal(s.Properties, &w); err != nil {
			return sendToFlex{}, fmt.Errorf("send-to-flex widget %q: %v", s.Name, err)
		}
		return w, nil
	}
	return sendToFlex{}, fmt.Errorf("the trigger leads to %q, which is not in the flow", next)
}
