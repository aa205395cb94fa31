package flex

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/twilio/twilio-go"
	chatv2 "github.com/twilio/twilio-go/rest/chat/v2"
	flexv1 "github.com/twilio/twilio-go/rest/flex/v1"
)

// openChannel is one attempt of OpenChat in Flex Flow mode: check the Flex
// Flow, find the channel opened for the idempotency key (never another
// session's) or create a Flex channel, then annotate it.
func (c *Client) openChannel(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	req ChatRequest, summary json.RawMessage) (Chat, error) {
	if err := c.ensureFlow(ctx, bc, rest); err != nil {
		return Chat{}, err
	}
	name := uniqueName(req.IdempotencyKey)
	chat := Chat{Identity: req.Identity, Reused: true}

	var ch *chatv2.ChatV2Channel
	nameTaken := false // by an inactive channel: the new one goes without a name
	if name != "" {
		got, err := c.fetchChannel(ctx, bc, rest, name)
		if err != nil {
			return Chat{}, err
		}
		if got != nil {
			if channelActive(got) {
				ch = got
			} else {
				nameTaken = true
			}
		}
	}
	if ch == nil {
		params := &flexv1.CreateChannelParams{}
		params.SetFlexFlowSid(c.cfg.FlexFlowSID)
		params.SetIdentity(req.Identity)
		params.SetChatUserFriendlyName(orDefault(req.CustomerFriendlyName, req.Identity))
		params.SetChatFriendlyName(orDefault(req.ChatFriendlyName, orDefault(req.CustomerFriendlyName, req.Identity)))
		params.SetPreEngagementData(string(summary))
		if name != "" && !nameTaken {
			params.SetChatUniqueName(name)
		}
		fc, err := call(ctx, c, bc, "create flex channel", func() (*flexv1.FlexV1Channel, error) {
			return rest.FlexV1.CreateChannel(params)
		})
		switch {
		case name != "" && !nameTaken && isStatus(err, http.StatusConflict):
			// Another instance created this key's channel first: use it.
			got, ferr := c.fetchChannel(ctx, bc, rest, name)
			if ferr != nil {
				return Chat{}, ferr
			}
			if got == nil {
				return Chat{}, &Error{Op: "fetch channel", Status: http.StatusNotFound, Code: 20404,
					Message: errNotVisibleYet.Error(), Err: errNotVisibleYet}
			}
			ch = got
		case err != nil:
			return Chat{}, err
		default:
			sid := deref(fc.Sid)
			if sid == "" {
				return Chat{}, &Error{Op: "create flex channel", Status: bc.lastStatus(), Message: "response has no sid"}
			}
			chat.Reused, chat.TaskSID = false, deref(fc.TaskSid)
			c.log.InfoContext(ctx, "flex channel created", slog.String("channel_sid", sid), slog.String("identity", req.Identity))
			got, err := c.fetchChannel(ctx, bc, rest, sid)
			if err != nil {
				chat.ChannelSID, chat.ConversationSID = sid, sid
				return chat, err
			}
			if got == nil {
				chat.ChannelSID, chat.ConversationSID = sid, sid
				return chat, &Error{Op: "fetch channel", Status: http.StatusNotFound, Code: 20404,
					Message: errNotVisibleYet.Error(), Err: errNotVisibleYet}
			}
			ch = got
		}
	}
	chat.ChannelSID = deref(ch.Sid)
	chat.ConversationSID = chat.ChannelSID
	if chat.Reused {
		c.log.InfoContext(ctx, "flex channel reused", slog.String("channel_sid", chat.ChannelSID), slog.String("identity", req.Identity))
	}
	if err := c.annotateChannel(ctx, bc, rest, chat.ChannelSID, ch, summary); err != nil {
		return chat, err
	}
	return chat, nil
}

// fetchChannel fetches a channel of the Chat service by SID or unique name;
// nil when there is none.
func (c *Client) fetchChannel(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, sidOrName string) (*chatv2.ChatV2Channel, error) {
	ch, err := call(ctx, c, bc, "fetch channel", func() (*chatv2.ChatV2Channel, error) {
		return rest.ChatV2.FetchChannel(c.cfg.ChatServiceSID, sidOrName)
	})
	if isStatus(err, http.StatusNotFound) {
		return nil, nil
	}
	return ch, err
}

// channelActive reports whether Flex still considers a chat channel open:
// Flex marks its channels' attributes "status": "ACTIVE" and turns that to
// "INACTIVE" when the task is done.
func channelActive(ch *chatv2.ChatV2Channel) bool {
	var attrs struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal([]byte(deref(ch.Attributes)), &attrs)
	return !strings.EqualFold(attrs.Status, "INACTIVE")
}

// annotateChannel stores summary in the attributes of channel sid; ch is
// the channel when already fetched.
func (c *Client) annotateChannel(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	sid string, ch *chatv2.ChatV2Channel, summary json.RawMessage) error {
	if sid == "" {
		return &Error{Op: "fetch channel", Message: "channel SID is required"}
	}
	if ch == nil {
		var err error
		ch, err = call(ctx, c, bc, "fetch channel", func() (*chatv2.ChatV2Channel, error) {
			return rest.ChatV2.FetchChannel(c.cfg.ChatServiceSID, sid)
		})
		if err != nil {
			return err
		}
	}
	merged, err := mergeVerification(deref(ch.Attributes), summary)
	if err != nil {
		return &Error{Op: "fetch channel", Message: "channel attributes are not a JSON object", Err: err}
	}
	params := &chatv2.UpdateChannelParams{}
	params.SetAttributes(merged)
	if _, err := call(ctx, c, bc, "update channel", func() (*chatv2.ChatV2Channel, error) {
		return rest.ChatV2.UpdateChannel(c.cfg.ChatServiceSID, sid, params)
	}); err != nil {
		return err
	}
	c.log.InfoContext(ctx, "flex channel annotated", slog.String("channel_sid", sid))
	return nil
}

// ensureFlow checks, at most every flowCheckEvery, that the configured Flex
// Flow exists and can take web chats.
func (c *Client) ensureFlow(ctx context.Context, bc *BaseClient, rest *twilio.RestClient) error {
	c.flowMu.Lock()
	fresh := !c.flowCheckAt.IsZero() && c.now().Sub(c.flowCheckAt) < flowCheckEvery
	c.flowMu.Unlock()
	if fresh {
		return nil
	}
	flow, err := call(ctx, c, bc, "fetch flex flow", func() (*flexv1.FlexV1FlexFlow, error) {
		return rest.FlexV1.FetchFlexFlow(c.cfg.FlexFlowSID)
	})
	if isStatus(err, http.StatusNotFound) {
		return &Error{Op: "fetch flex flow", Status: http.StatusNotFound, Code: 20404,
			Message: fmt.Sprintf("FlexFlowSID %s: no such Flex Flow in account %s", c.cfg.FlexFlowSID, c.cfg.AccountSID), Err: ErrMisconfigured}
	}
	if err != nil {
		return err
	}
	if problem := c.flowProblem(flow); problem != "" {
		return &Error{Op: "fetch flex flow", Message: problem, Err: ErrMisconfigured}
	}
	c.flowMu.Lock()
	c.flowCheckAt = c.now()
	c.flowMu.Unlock()
	return nil
}

// flowProblem says why flow cannot take the customer's web chats, "" when
// it can.
func (c *Client) flowProblem(flow *flexv1.FlexV1FlexFlow) string {
	sid := deref(flow.Sid)
	switch {
	case !deref(flow.Enabled):
		return fmt.Sprintf("FlexFlowSID %s (%q) is disabled; enable it in the console (Flex > Manage > Messaging)", sid, deref(flow.FriendlyName))
	case deref(flow.ChannelType) != "web":
		return fmt.Sprintf("FlexFlowSID %s (%q) has channel type %q; web chats need a Flex Flow of channel type \"web\"",
			sid, deref(flow.FriendlyName), deref(flow.ChannelType))
	case deref(flow.ChatServiceSid) != "" && deref(flow.ChatServiceSid) != c.cfg.ChatServiceSID:
		return fmt.Sprintf("FlexFlowSID %s uses Chat service %s, but ChatServiceSID is %s", sid, deref(flow.ChatServiceSid), c.cfg.ChatServiceSID)
	}
	return ""
}

// describeFlows lists flows for an error message.
func describeFlows(flows []flexv1.FlexV1FlexFlow) string {
	if len(flows) == 0 {
		return "the account has no Flex Flows"
	}
	var out []string
	for _, f := range flows {
		state := "disabled"
		if deref(f.Enabled) {
			state = "enabled"
		}
		out = append(out, fmt.Sprintf("%s %q (%s, %s)", deref(f.Sid), deref(f.FriendlyName), deref(f.ChannelType), state))
	}
	sort.Strings(out)
	return "the account's Flex Flows: " + strings.Join(out, "; ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
