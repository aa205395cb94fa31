package flex

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/twilio/twilio-go"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// ErrEraseUnsupported is returned by Erase in Flex Flow mode (legacy Flex):
// this package does not erase Programmable Chat channels. Retrying does not
// help.
var ErrEraseUnsupported = errors.New("erasure at Twilio is not supported in Flex Flow mode")

// PreEngagementKey is the conversation attribute Flex keeps a web chat's
// pre-engagement data under.
const PreEngagementKey = "pre_engagement_data"

// codeConversationClosed is Twilio's error 50377: a closed conversation
// cannot be updated.
const codeConversationClosed = 50377

// erasedKeys are the attributes Erase removes wherever it finds them: what
// this service, and the Studio flow it ships, wrote about the customer.
var erasedKeys = []string{VerificationKey, PreEngagementKey}

// namedKeys are the attributes that carry the customer's display name
// (Flex's "from", the flow's "name", "customerName", a participant's
// "friendlyName"): Erase keeps them, set to the pseudonym.
var namedKeys = []string{"from", "name", "customerName", "friendlyName"}

// ErasePlan says what Erase removes at Twilio for one customer.
type ErasePlan struct {
	// Identity is the customer's pseudonym: their Conversations identity,
	// and what every name the service or Flex wrote becomes.
	Identity string
	// Conversations are the SIDs (CH…) of the chats opened for the
	// customer. Erase also finds the customer's other conversations in the
	// configured Conversations service by their identity.
	Conversations []string
	// Delete deletes the conversations rather than only removing the
	// verification summary and pre-engagement data from them.
	Delete bool
}

// Erase removes from Twilio what the service put there about a customer:
// for each conversation of plan (and each other one the customer takes part
// in), the verification summary and pre-engagement data from the
// conversation's and its participants' attributes and from the attributes
// of its TaskRouter tasks (found in Config.WorkspaceSID by
// conversationSid; skipped, with a log line, when no workspace is
// configured), whose name and from become the pseudonym; the customer's
// Conversations user gets the pseudonym as friendly name. Every other
// attribute (Flex's own) is kept. A conversation is deleted instead when
// plan.Delete is set or when it is closed (Twilio refuses to update a closed
// conversation: error 50377); a task that ended (completed or canceled) is
// deleted too. Anything already gone (404) counts as erased.
//
// Erase is idempotent: after a failure, calling it again with the same plan
// finishes the work. Temporary failures are retried within Config.Retry;
// errors are *Error. In Flex Flow mode it returns ErrEraseUnsupported and
// calls nothing.
func (c *Client) Erase(ctx context.Context, plan ErasePlan) error {
	if c.cfg.Mode == ModeFlexFlow {
		return ErrEraseUnsupported
	}
	if plan.Identity == "" {
		return &Error{Op: "erase", Message: "identity is required"}
	}
	ctx, cancel := context.WithTimeout(ctx, c.retry.Total)
	defer cancel()
	bc := c.base.bind(ctx)
	defer bc.done()
	rest := restClient(bc)
	_, err := withRetry(ctx, c, "erase", func() (struct{}, error) {
		return struct{}{}, c.erase(ctx, bc, rest, plan)
	})
	return err
}

// erase is one attempt of Erase.
func (c *Client) erase(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, plan ErasePlan) error {
	sids, err := c.customerConversations(ctx, bc, rest, plan)
	if err != nil {
		return err
	}
	for _, sid := range sids {
		if err := c.eraseTasks(ctx, bc, rest, sid, plan.Identity); err != nil {
			return err
		}
		if err := c.eraseConversation(ctx, bc, rest, sid, plan); err != nil {
			return err
		}
	}
	up := &conversations.UpdateUserParams{}
	up.SetFriendlyName(plan.Identity)
	_, err = call(ctx, c, bc, "update user", func() (*conversations.ConversationsV1User, error) {
		return rest.ConversationsV1.UpdateUser(plan.Identity, up)
	})
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return err
	}
	c.log.InfoContext(ctx, "customer erased at twilio", slog.String("identity", plan.Identity),
		slog.Int("conversations", len(sids)), slog.Bool("deleted", plan.Delete))
	return nil
}

// customerConversations returns the plan's conversations and those the
// customer takes part in, each once.
func (c *Client) customerConversations(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, plan ErasePlan) ([]string, error) {
	sids := slices.Clone(plan.Conversations)
	params := &conversations.ListParticipantConversationParams{}
	params.SetIdentity(plan.Identity)
	params.SetPageSize(50)
	list, err := call(ctx, c, bc, "list participant conversations", func() ([]conversations.ConversationsV1ParticipantConversation, error) {
		return rest.ConversationsV1.ListParticipantConversation(params)
	})
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return nil, err
	}
	for _, pc := range list {
		if s := deref(pc.ChatServiceSid); s != "" && c.cfg.ConversationsServiceSID != "" && s != c.cfg.ConversationsServiceSID {
			continue
		}
		if sid := deref(pc.ConversationSid); sid != "" {
			sids = append(sids, sid)
		}
	}
	slices.Sort(sids)
	return slices.Compact(sids), nil
}

// eraseConversation scrubs (or deletes) conversation sid and its
// participants.
func (c *Client) eraseConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, sid string, plan ErasePlan) error {
	if plan.Delete {
		return c.deleteConversation(ctx, bc, rest, sid)
	}
	conv, err := call(ctx, c, bc, "fetch conversation", func() (*conversations.ConversationsV1Conversation, error) {
		return rest.ConversationsV1.FetchConversation(sid)
	})
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if deref(conv.State) == "closed" {
		return c.deleteConversation(ctx, bc, rest, sid)
	}
	attrs, changed, err := scrubAttributes(deref(conv.Attributes), plan.Identity, false)
	if err != nil {
		return &Error{Op: "fetch conversation", Message: "conversation attributes are not a JSON object", Err: err}
	}
	if changed {
		params := &conversations.UpdateConversationParams{}
		params.SetAttributes(attrs)
		_, err := call(ctx, c, bc, "update conversation", func() (*conversations.ConversationsV1Conversation, error) {
			return rest.ConversationsV1.UpdateConversation(sid, params)
		})
		switch {
		case isCode(err, codeConversationClosed): // closed meanwhile
			return c.deleteConversation(ctx, bc, rest, sid)
		case isStatus(err, http.StatusNotFound):
			return nil
		case err != nil:
			return err
		}
	}
	lp := &conversations.ListConversationParticipantParams{}
	lp.SetPageSize(50)
	parts, err := call(ctx, c, bc, "list participants", func() ([]conversations.ConversationsV1ConversationParticipant, error) {
		return rest.ConversationsV1.ListConversationParticipant(sid, lp)
	})
	if isStatus(err, http.StatusNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, p := range parts {
		attrs, changed, err := scrubAttributes(deref(p.Attributes), plan.Identity, deref(p.Identity) != plan.Identity)
		if err != nil {
			return &Error{Op: "list participants", Message: "participant attributes are not a JSON object", Err: err}
		}
		if !changed {
			continue
		}
		up := &conversations.UpdateConversationParticipantParams{}
		up.SetAttributes(attrs)
		psid := deref(p.Sid)
		_, err = call(ctx, c, bc, "update participant", func() (*conversations.ConversationsV1ConversationParticipant, error) {
			return rest.ConversationsV1.UpdateConversationParticipant(sid, psid, up)
		})
		switch {
		case isCode(err, codeConversationClosed):
			return c.deleteConversation(ctx, bc, rest, sid)
		case err != nil && !isStatus(err, http.StatusNotFound):
			return err
		}
	}
	return nil
}

func (c *Client) deleteConversation(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, sid string) error {
	_, err := call(ctx, c, bc, "delete conversation", func() (struct{}, error) {
		return struct{}{}, rest.ConversationsV1.DeleteConversation(sid, &conversations.DeleteConversationParams{})
	})
	if err != nil && !isStatus(err, http.StatusNotFound) {
		return err
	}
	c.log.InfoContext(ctx, "conversation deleted for an erasure", slog.String("conversation_sid", sid))
	return nil
}

// eraseTasks scrubs the tasks of conversation sid, deleting those that ended.
func (c *Client) eraseTasks(ctx context.Context, bc *BaseClient, rest *twilio.RestClient, sid, identity string) error {
	ws := c.cfg.WorkspaceSID
	if ws == "" {
		c.log.WarnContext(ctx, "no TaskRouter workspace configured: the tasks of an erased customer's conversation are left as they are",
			slog.String("conversation_sid", sid))
		return nil
	}
	if !validSID(sid, "CH") { // it goes into an expression
		return &Error{Op: "list tasks", Message: "malformed conversation SID"}
	}
	params := &taskrouter.ListTaskParams{}
	params.SetEvaluateTaskAttributes(`conversationSid == "` + sid + `"`)
	params.SetPageSize(50)
	tasks, err := call(ctx, c, bc, "list tasks", func() ([]taskrouter.TaskrouterV1Task, error) {
		return rest.TaskrouterV1.ListTask(ws, params)
	})
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tsid := deref(t.Sid)
		switch deref(t.AssignmentStatus) {
		case "completed", "canceled":
			_, err = call(ctx, c, bc, "delete task", func() (struct{}, error) {
				return struct{}{}, rest.TaskrouterV1.DeleteTask(ws, tsid, &taskrouter.DeleteTaskParams{})
			})
		default:
			attrs, changed, serr := scrubAttributes(deref(t.Attributes), identity, false)
			if serr != nil {
				return &Error{Op: "list tasks", Message: "task attributes are not a JSON object", Err: serr}
			}
			if !changed {
				continue
			}
			up := &taskrouter.UpdateTaskParams{}
			up.SetAttributes(attrs)
			_, err = call(ctx, c, bc, "update task", func() (*taskrouter.TaskrouterV1Task, error) {
				return rest.TaskrouterV1.UpdateTask(ws, tsid, up)
			})
		}
		if err != nil && !isStatus(err, http.StatusNotFound) {
			return err
		}
	}
	return nil
}

// scrubAttributes returns attributes without erasedKeys and with every key
// of namedKeys that is present set to identity (unless keepNames: another
// participant's name is theirs), and whether that changed anything. Empty or
// null attributes are left alone.
func scrubAttributes(attributes, identity string, keepNames bool) (string, bool, error) {
	if strings.TrimSpace(attributes) == "" {
		return attributes, false, nil
	}
	var attrs map[string]json.RawMessage
	if err := json.Unmarshal([]byte(attributes), &attrs); err != nil {
		return "", false, err
	}
	if attrs == nil {
		return attributes, false, nil
	}
	changed := false
	for _, k := range erasedKeys {
		if _, ok := attrs[k]; ok {
			delete(attrs, k)
			changed = true
		}
	}
	if !keepNames {
		name, _ := json.Marshal(identity)
		for _, k := range namedKeys {
			if v, ok := attrs[k]; ok && string(v) != string(name) {
				attrs[k] = name
				changed = true
			}
		}
	}
	if !changed {
		return attributes, false, nil
	}
	out, err := json.Marshal(attrs)
	if err != nil {
		return "", false, err
	}
	return string(out), true, nil
}

// isCode reports whether err is an *Error with Twilio error code code.
func isCode(err error, code int) bool {
	var fe *Error
	return errors.As(err, &fe) && fe.Code == code
}
