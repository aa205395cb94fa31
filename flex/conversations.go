package flex

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/twilio/twilio-go"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	flexv2 "github.com/twilio/twilio-go/rest/flex/v2"
)

// openConversation is one attempt of OpenChat in conversations mode: find
// the conversation this call or session opened or create a web chat, then
// annotate the conversation and the customer's participant. key marks the
// conversation as this call's (see findConversation): the idempotency key,
// or one of this call.
func (c *Client) openConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	req ChatRequest, key string, summary json.RawMessage) (Chat, error) {
	name := uniqueName(req.IdempotencyKey)
	sid, err := c.findConversation(ctx, bc, rest, req.Identity, key)
	if err != nil {
		return Chat{}, err
	}
	chat := Chat{ConversationSID: sid, Identity: req.Identity, Reused: sid != ""}
	if sid == "" {
		pre, err := preEngagementData(summary, req.CustomerFriendlyName, key)
		if err != nil {
			return Chat{}, &Error{Op: "create web chat", Message: "verification summary is not a JSON object", Err: err}
		}
		params := &flexv2.CreateWebChannelParams{}
		params.SetAddressSid(c.cfg.AddressSID)
		params.SetIdentity(req.Identity)
		params.SetPreEngagementData(pre)
		if req.CustomerFriendlyName != "" {
			params.SetCustomerFriendlyName(req.CustomerFriendlyName)
		}
		if req.ChatFriendlyName != "" {
			params.SetChatFriendlyName(req.ChatFriendlyName)
		}
		wc, err := call(ctx, c, bc, "create web chat", func() (*flexv2.FlexV2WebChannel, error) {
			return rest.FlexV2.CreateWebChannel(params)
		})
		if err != nil {
			return Chat{}, err
		}
		if deref(wc.ConversationSid) == "" {
			return Chat{}, &Error{Op: "create web chat", Status: bc.lastStatus(), Message: "response has no conversation_sid"}
		}
		chat.ConversationSID = *wc.ConversationSid
		if id := deref(wc.Identity); id != "" {
			chat.Identity = id
		}
		c.log.InfoContext(ctx, "flex web chat created",
			slog.String("conversation_sid", chat.ConversationSID), slog.String("identity", chat.Identity))
	} else {
		c.log.InfoContext(ctx, "flex web chat reused",
			slog.String("conversation_sid", chat.ConversationSID), slog.String("identity", chat.Identity))
	}

	final, err := c.annotateConversation(ctx, bc, rest, chat.ConversationSID, summary, name, !chat.Reused, true)
	if final != "" && final != chat.ConversationSID {
		chat.ConversationSID, chat.Reused = final, true
	}
	if err != nil {
		return chat, err
	}
	if err := c.annotateParticipant(ctx, bc, rest, chat.ConversationSID, chat.Identity, summary); err != nil {
		return chat, err
	}
	return chat, nil
}

// findConversation returns the conversation OpenChat must adopt, "" for
// none: the one this service opened for the idempotency key, unless it is
// closed. It is found by its unique name or, when the response to its
// creation was lost before it could be named, by the key in its
// pre-engagement data. Never another session's conversation, however active:
// Flex leaves orphaned conversations open, where no agent may be watching.
func (c *Client) findConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, identity, key string) (string, error) {
	params := &conversations.ListParticipantConversationParams{}
	params.SetIdentity(identity)
	params.SetPageSize(50)
	params.SetLimit(200)
	list, err := call(ctx, c, bc, "list participant conversations", func() ([]conversations.ConversationsV1ParticipantConversation, error) {
		return rest.ConversationsV1.ListParticipantConversation(params)
	})
	if isStatus(err, http.StatusNotFound) { // no such user yet
		return "", nil
	}
	if err != nil {
		return "", err
	}
	name := uniqueName(key)
	marked := ""
	for i := range list {
		pc := &list[i]
		if s := deref(pc.ChatServiceSid); s != "" && s != c.cfg.ConversationsServiceSID {
			continue
		}
		if deref(pc.ConversationState) == "closed" {
			continue
		}
		switch un := deref(pc.ConversationUniqueName); {
		case un == name:
			return deref(pc.ConversationSid), nil
		case un == "" && marked == "" && chatKeyOf(deref(pc.ConversationAttributes)) == key:
			marked = deref(pc.ConversationSid)
		}
	}
	return marked, nil
}

// preEngagementData is the web chat's pre-engagement data: the verification
// summary, the customer's friendly name under "friendlyName" (what Flex's
// Studio flows make the task's name), and the idempotency key under
// ChatKeyAttribute, which marks the conversation as opened for it.
func preEngagementData(summary json.RawMessage, friendlyName, key string) (string, error) {
	pre := map[string]json.RawMessage{}
	if err := json.Unmarshal(summary, &pre); err != nil {
		return "", err
	}
	if pre == nil {
		pre = map[string]json.RawMessage{}
	}
	set := func(k, v string) {
		if v != "" {
			raw, _ := json.Marshal(v)
			pre[k] = raw
		}
	}
	set("friendlyName", friendlyName)
	set(ChatKeyAttribute, key)
	out, err := json.Marshal(pre)
	return string(out), err
}

// chatKeyOf returns the idempotency key in the pre-engagement data of a
// conversation's attributes, "" for none.
func chatKeyOf(attributes string) string {
	var attrs struct {
		Pre map[string]any `json:"pre_engagement_data"`
	}
	if json.Unmarshal([]byte(attributes), &attrs) != nil {
		return ""
	}
	key, _ := attrs.Pre[ChatKeyAttribute].(string)
	return key
}

// annotateConversation stores summary in the attributes of conversation sid
// and, when it has no unique name yet, names it name. If another
// conversation took that name meanwhile (a second instance opening the same
// chat), the other one wins: the conversation this attempt created is
// closed and the winner annotated. With timers, it sets the configured
// conversation timers too. It returns the SID annotated.
func (c *Client) annotateConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	sid string, summary json.RawMessage, name string, created, timers bool) (string, error) {
	if sid == "" {
		return "", &Error{Op: "fetch conversation", Message: "conversation SID is required"}
	}
	conv, err := call(ctx, c, bc, "fetch conversation", func() (*conversations.ConversationsV1Conversation, error) {
		return rest.ConversationsV1.FetchConversation(sid)
	})
	if err != nil {
		return sid, err
	}
	merged, err := mergeVerification(deref(conv.Attributes), summary)
	if err != nil {
		return sid, &Error{Op: "fetch conversation", Message: "conversation attributes are not a JSON object", Err: err}
	}
	params := &conversations.UpdateConversationParams{}
	params.SetAttributes(merged)
	if timers && c.cfg.ChatInactiveAfter > 0 {
		params.SetTimersInactive(isoDuration(c.cfg.ChatInactiveAfter))
	}
	if timers && c.cfg.ChatCloseAfter > 0 {
		params.SetTimersClosed(isoDuration(c.cfg.ChatCloseAfter))
	}
	setName := name != "" && deref(conv.UniqueName) == ""
	if setName {
		params.SetUniqueName(name)
	}
	_, err = call(ctx, c, bc, "update conversation", func() (*conversations.ConversationsV1Conversation, error) {
		return rest.ConversationsV1.UpdateConversation(sid, params)
	})
	if setName && isStatus(err, http.StatusConflict) {
		winner, ferr := call(ctx, c, bc, "fetch conversation", func() (*conversations.ConversationsV1Conversation, error) {
			return rest.ConversationsV1.FetchConversation(name)
		})
		if isStatus(ferr, http.StatusNotFound) {
			ferr = &Error{Op: "fetch conversation", Status: http.StatusNotFound, Code: 20404,
				Message: errNotVisibleYet.Error(), Err: errNotVisibleYet}
		}
		if ferr != nil {
			return sid, ferr
		}
		if created {
			c.closeConversation(ctx, bc, rest, sid)
		}
		return c.annotateConversation(ctx, bc, rest, deref(winner.Sid), summary, "", false, timers)
	}
	if err != nil {
		return sid, err
	}
	c.log.InfoContext(ctx, "flex conversation annotated", slog.String("conversation_sid", sid))
	return sid, nil
}

// closeConversation closes a duplicate conversation, as well as it can.
func (c *Client) closeConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, sid string) {
	params := &conversations.UpdateConversationParams{}
	params.SetState("closed")
	if _, err := call(ctx, c, bc, "close conversation", func() (*conversations.ConversationsV1Conversation, error) {
		return rest.ConversationsV1.UpdateConversation(sid, params)
	}); err != nil {
		c.log.WarnContext(ctx, "duplicate conversation not closed", slog.String("conversation_sid", sid), slog.Any("err", err))
		return
	}
	c.log.InfoContext(ctx, "duplicate conversation closed", slog.String("conversation_sid", sid))
}

// annotateParticipant stores summary in the attributes of identity's
// participant in conversation sid.
func (c *Client) annotateParticipant(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	sid, identity string, summary json.RawMessage) error {
	params := &conversations.ListConversationParticipantParams{}
	params.SetPageSize(50)
	params.SetLimit(200)
	parts, err := call(ctx, c, bc, "list participants", func() ([]conversations.ConversationsV1ConversationParticipant, error) {
		return rest.ConversationsV1.ListConversationParticipant(sid, params)
	})
	if err != nil {
		return err
	}
	for _, p := range parts {
		if deref(p.Identity) != identity {
			continue
		}
		merged, err := mergeVerification(deref(p.Attributes), summary)
		if err != nil {
			return &Error{Op: "list participants", Message: "participant attributes are not a JSON object", Err: err}
		}
		up := &conversations.UpdateConversationParticipantParams{}
		up.SetAttributes(merged)
		psid := deref(p.Sid)
		_, err = call(ctx, c, bc, "update participant", func() (*conversations.ConversationsV1ConversationParticipant, error) {
			return rest.ConversationsV1.UpdateConversationParticipant(sid, psid, up)
		})
		return err
	}
	return &Error{Op: "list participants", Message: "the customer is not a participant of conversation " + sid}
}

// isoDuration writes d, in whole seconds, as the ISO 8601 duration Twilio's
// timers take, e.g. PT30M or PT24H.
func isoDuration(d time.Duration) string {
	secs := int64(d.Round(time.Second) / time.Second)
	out := "PT"
	for _, u := range []struct {
		secs int64
		unit string
	}{{3600, "H"}, {60, "M"}, {1, "S"}} {
		if n := secs / u.secs; n > 0 {
			out += strconv.FormatInt(n, 10) + u.unit
			secs -= n * u.secs
		}
	}
	if out == "PT" {
		out = "PT0S"
	}
	return out
}
