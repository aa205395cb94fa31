package flex

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/twilio/twilio-go"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	flexv2 "github.com/twilio/twilio-go/rest/flex/v2"
)

// openConversation is one attempt of OpenChat in conversations mode: find
// the chat to reuse or create a web chat, then annotate the conversation and
// the customer's participant.
func (c *Client) openConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	req ChatRequest, summary json.RawMessage) (Chat, error) {
	name := uniqueName(req.IdempotencyKey)
	sid, err := c.findConversation(ctx, bc, rest, req.Identity, name)
	if err != nil {
		return Chat{}, err
	}
	chat := Chat{ConversationSID: sid, Identity: req.Identity, Reused: sid != ""}
	if sid == "" {
		params := &flexv2.CreateWebChannelParams{}
		params.SetAddressSid(c.cfg.AddressSID)
		params.SetIdentity(req.Identity)
		params.SetPreEngagementData(string(summary))
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

	final, err := c.annotateConversation(ctx, bc, rest, chat.ConversationSID, summary, name, !chat.Reused)
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

// findConversation returns the conversation OpenChat must reuse, "" for
// none: the one named for the idempotency key unless it is closed, else the
// newest active conversation of identity in the configured service.
func (c *Client) findConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, identity, name string) (string, error) {
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
	var newest *conversations.ConversationsV1ParticipantConversation
	for i := range list {
		pc := &list[i]
		if s := deref(pc.ChatServiceSid); s != "" && s != c.cfg.ConversationsServiceSID {
			continue
		}
		state := deref(pc.ConversationState)
		if name != "" && deref(pc.ConversationUniqueName) == name && state != "closed" {
			return deref(pc.ConversationSid), nil
		}
		if state != "active" {
			continue
		}
		if newest == nil || pc.ConversationDateCreated != nil && newest.ConversationDateCreated != nil &&
			!pc.ConversationDateCreated.Before(*newest.ConversationDateCreated) {
			newest = pc
		}
	}
	if newest != nil {
		return deref(newest.ConversationSid), nil
	}
	return "", nil
}

// annotateConversation stores summary in the attributes of conversation sid
// and, when it has no unique name yet, names it name. If another
// conversation took that name meanwhile (a second instance opening the same
// chat), the other one wins: the conversation this attempt created is
// closed and the winner annotated. It returns the SID annotated.
func (c *Client) annotateConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	sid string, summary json.RawMessage, name string, created bool) (string, error) {
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
		return c.annotateConversation(ctx, bc, rest, deref(winner.Sid), summary, "", false)
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
