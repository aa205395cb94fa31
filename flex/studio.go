package flex

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The Studio flow this product ships for the web chat address, and the
// TaskRouter workflow configuration it recommends (flex/studio/).
//
// In Conversations-based Flex a web chat's task is made by the Studio flow
// of its address, on the customer's first message: the flow's Send to Flex
// widget renders its attributes template (Liquid) over the trigger, whose
// trigger.conversation.ChannelAttributes are the conversation's attributes.
// This product writes into those attributes, before the customer can write,
// pre_engagement_data (with friendlyName, the customer's display name) and
// verification (the summary, display claims only). The shipped template puts
// into the task:
//
//	name, from       the display name (pre_engagement_data.friendlyName, else the conversation's from)
//	channelType      "web"
//	conversationSid  the conversation
//	verification     the summary, as an object
//
// Values go through Studio's to_json filter, never between quotes, so a name
// holding a quote cannot break the JSON or add attributes; an object needs it
// anyway (Liquid does not print objects as JSON). Studio flows in production
// use to_json to put a conversation attribute holding an object into Send to
// Flex attributes, e.g. "memory": {{trigger.message.ChannelAttributes.memory | to_json}}
// in techmatters/flex-plugins,
// https://github.com/techmatters/flex-plugins/blob/10c46a033241547f144d1304cb977cefceaa2c86/twilio-iac/terraform-modules/studioFlow/default/main.tf.
// Twilio's Liquid reference: https://www.twilio.com/docs/studio/user-guide/liquid-template-language.
//
// The widget's attributes field is limited to 1,024 characters: the
// template is (a test holds it to MaxSendToFlexAttributes). The rendered
// value is larger — the summary with its display claims — but stays small
// (a few hundred bytes); should Studio or TaskRouter drop or refuse a large
// one, the task lacks verification and the Flex plugin falls back to asking
// this service (GET /v1/agent/chats/{chat_sid}/verification) with the
// agent's Flex token.

// StudioFlowName is the friendly name of the shipped Studio flow; Setup finds
// the flow by it.
const StudioFlowName = "HearRo verified web chat"

// MaxSendToFlexAttributes is the length limit of a Send to Flex widget's
// attributes field in Studio.
const MaxSendToFlexAttributes = 1024

// The placeholders of the shipped files, which StudioFlow and
// WorkflowConfiguration fill.
const (
	placeholderWorkflow      = "${WORKFLOW_SID}"
	placeholderTaskChannel   = "${TASK_CHANNEL_SID}"
	placeholderVerifiedQueue = "${VERIFIED_QUEUE_SID}"
	placeholderEveryoneQueue = "${EVERYONE_QUEUE_SID}"
)

//go:embed studio/webchat-flow.json
var studioFlowTemplate []byte

//go:embed studio/workflow.json
var workflowTemplate []byte

// StudioFlowDefinition returns the shipped Studio flow definition (JSON) as
// shipped: its Send to Flex widget's workflow is ${WORKFLOW_SID} and its task
// channel ${TASK_CHANNEL_SID}. StudioFlow fills them.
func StudioFlowDefinition() []byte { return bytes.Clone(studioFlowTemplate) }

// StudioFlow returns the shipped Studio flow definition for a workflow
// (WW…) and a task channel (TC…).
func StudioFlow(workflowSID, taskChannelSID string) ([]byte, error) {
	if !validSID(workflowSID, "WW") {
		return nil, fmt.Errorf("flex: Studio flow: workflow %q is not a workflow SID (WW…)", workflowSID)
	}
	if !validSID(taskChannelSID, "TC") {
		return nil, fmt.Errorf("flex: Studio flow: task channel %q is not a task channel SID (TC…)", taskChannelSID)
	}
	r := strings.NewReplacer(placeholderWorkflow, workflowSID, placeholderTaskChannel, taskChannelSID)
	return []byte(r.Replace(string(studioFlowTemplate))), nil
}

// WorkflowConfiguration returns the recommended TaskRouter workflow
// configuration: a task whose verification.verified is true goes to the
// verified customers' queue, every other one to everyone's (expression
// "verification.verified == true", TaskRouter's expression syntax:
// https://www.twilio.com/docs/taskrouter/expression-syntax). Set it as the
// Configuration of the workflow Setup's WorkflowSID names.
func WorkflowConfiguration(verifiedQueueSID, everyoneQueueSID string) ([]byte, error) {
	if !validSID(verifiedQueueSID, "WQ") || !validSID(everyoneQueueSID, "WQ") {
		return nil, errors.New("flex: workflow configuration: queues must be task queue SIDs (WQ…)")
	}
	r := strings.NewReplacer(placeholderVerifiedQueue, verifiedQueueSID, placeholderEveryoneQueue, everyoneQueueSID)
	return []byte(r.Replace(string(workflowTemplate))), nil
}

// sendToFlexAttributes returns the attributes template of a flow
// definition's send-to-flex widgets.
func sendToFlexAttributes(definition []byte) ([]string, error) {
	var def struct {
		States []struct {
			Type       string `json:"type"`
			Properties struct {
				Attributes string `json:"attributes"`
			} `json:"properties"`
		} `json:"states"`
	}
	if err := json.Unmarshal(definition, &def); err != nil {
		return nil, err
	}
	var out []string
	for _, s := range def.States {
		if s.Type == "send-to-flex" {
			out = append(out, s.Properties.Attributes)
		}
	}
	return out, nil
}
