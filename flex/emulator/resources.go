package emulator

import (
	"encoding/json"
	"net/http"
	"time"
)

// The resources, as the emulator keeps them. Guarded by Emulator.mu.

// chat is what a Conversations conversation and a Programmable Chat channel
// have in common: a Flex chat, its members, its messages and the task an
// agent is offered for it.
type chat struct {
	sid          string
	friendlyName string
	uniqueName   string
	attributes   string // JSON
	created      time.Time
	updated      time.Time
	members      []*member // a conversation's participants, a channel's members
	messages     []*message
	nextIndex    int
	task         *task
}

func (c *chat) keys() (string, string) { return c.sid, c.uniqueName }

// base returns the chat itself; conversation and channel inherit it, so
// that code written once for both (see chatLike) reaches what they share.
func (c *chat) base() *chat { return c }

type conversation struct {
	chat
	state string // initializing | inactive | active | closed
	// A Flex web chat's address and customer (the identity the web chat
	// made); "" for other conversations. The customer's messages run the
	// address's Studio flow until it creates the task; flowError is why
	// it last failed to.
	addressSID string
	customer   string
	flowError  string
	timers     timers
}

// channel is a Programmable Chat channel.
type channel struct {
	chat
	createdBy string
	flowSID   string
}

// member is a conversation's participant or a channel's member.
type member struct {
	sid        string
	identity   string
	attributes string
	roleSID    string
	created    time.Time
	updated    time.Time
}

type message struct {
	sid            string
	index          int
	author         string
	body           string
	attributes     string
	participantSID string // "" when the author is not a member
	created        time.Time
	updated        time.Time
}

// user is a Conversations user or a Programmable Chat user.
type user struct {
	sid          string
	identity     string
	friendlyName string
	attributes   string
	roleSID      string
	created      time.Time
	updated      time.Time
}

func (u *user) keys() (string, string) { return u.sid, u.identity }

type flexFlow struct {
	sid             string
	friendlyName    string
	chatServiceSID  string
	channelType     string // web | sms | facebook | whatsapp | line | custom
	contactIdentity string
	enabled         bool
	integrationType string // studio | external | task
	longLived       bool
	janitorEnabled  bool
	created         time.Time
	updated         time.Time
}

func (f *flexFlow) keys() (string, string) { return f.sid, "" }

// task is a TaskRouter task Flex created for a chat.
type task struct {
	sid         string
	attributes  string
	status      string // pending | reserved | assigned | canceled | completed | wrapping
	workflowSID string // the workflow that routed it
	queueSID    string // the queue it is in
	channelSID  string // its task channel
	reason      string
	created     time.Time
	updated     time.Time
}

func (t *task) keys() (string, string) { return t.sid, "" }

// Twilio's canonical URLs, which the emulator puts in responses like Twilio.
const (
	conversationsAPI = "https://conversations.twilio.com/v1"
	flexAPI          = "https://flex-api.twilio.com/v1"
	chatAPI          = "https://chat.twilio.com/v2"
	taskrouterAPI    = "https://taskrouter.twilio.com/v1"
)

func conversationURL(sid string) string { return conversationsAPI + "/Conversations/" + sid }

// The JSON shapes, field for field as in Twilio's OpenAPI descriptions
// (twilio_conversations_v1.json, twilio_flex_v1.json, twilio_flex_v2.json,
// twilio_taskrouter_v1.json) and, for Programmable Chat, twilio-go's models
// generated from twilio_chat_v2.json. Nullable fields that the emulator never
// sets are always null.

type webChannelJSON struct {
	ConversationSID string `json:"conversation_sid"`
	Identity        string `json:"identity"`
}

type conversationJSON struct {
	AccountSID          string            `json:"account_sid"`
	ChatServiceSID      string            `json:"chat_service_sid"`
	MessagingServiceSID *string           `json:"messaging_service_sid"`
	SID                 string            `json:"sid"`
	FriendlyName        *string           `json:"friendly_name"`
	UniqueName          *string           `json:"unique_name"`
	Attributes          string            `json:"attributes"`
	State               string            `json:"state"`
	DateCreated         string            `json:"date_created"`
	DateUpdated         string            `json:"date_updated"`
	Timers              map[string]string `json:"timers"`
	URL                 string            `json:"url"`
	Links               map[string]string `json:"links"`
	Bindings            json.RawMessage   `json:"bindings"`
}

type participantJSON struct {
	AccountSID           string          `json:"account_sid"`
	ConversationSID      string          `json:"conversation_sid"`
	SID                  string          `json:"sid"`
	Identity             *string         `json:"identity"`
	Attributes           string          `json:"attributes"`
	MessagingBinding     json.RawMessage `json:"messaging_binding"`
	RoleSID              string          `json:"role_sid"`
	DateCreated          string          `json:"date_created"`
	DateUpdated          string          `json:"date_updated"`
	URL                  string          `json:"url"`
	LastReadMessageIndex *int            `json:"last_read_message_index"`
	LastReadTimestamp    *string         `json:"last_read_timestamp"`
}

type participantConversationJSON struct {
	AccountSID                  string            `json:"account_sid"`
	ChatServiceSID              string            `json:"chat_service_sid"`
	ParticipantSID              string            `json:"participant_sid"`
	ParticipantUserSID          *string           `json:"participant_user_sid"`
	ParticipantIdentity         *string           `json:"participant_identity"`
	ParticipantMessagingBinding json.RawMessage   `json:"participant_messaging_binding"`
	ConversationSID             string            `json:"conversation_sid"`
	ConversationUniqueName      *string           `json:"conversation_unique_name"`
	ConversationFriendlyName    *string           `json:"conversation_friendly_name"`
	ConversationAttributes      string            `json:"conversation_attributes"`
	ConversationDateCreated     string            `json:"conversation_date_created"`
	ConversationDateUpdated     string            `json:"conversation_date_updated"`
	ConversationCreatedBy       *string           `json:"conversation_created_by"`
	ConversationState           string            `json:"conversation_state"`
	ConversationTimers          map[string]string `json:"conversation_timers"`
	Links                       map[string]string `json:"links"`
}

type messageJSON struct {
	AccountSID      string            `json:"account_sid"`
	ConversationSID string            `json:"conversation_sid"`
	SID             string            `json:"sid"`
	Index           int               `json:"index"`
	Author          string            `json:"author"`
	Body            *string           `json:"body"`
	Media           []any             `json:"media"`
	Attributes      string            `json:"attributes"`
	ParticipantSID  *string           `json:"participant_sid"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	URL             string            `json:"url"`
	Delivery        json.RawMessage   `json:"delivery"`
	Links           map[string]string `json:"links"`
	ContentSID      *string           `json:"content_sid"`
}

type userJSON struct {
	SID            string            `json:"sid"`
	AccountSID     string            `json:"account_sid"`
	ChatServiceSID string            `json:"chat_service_sid"`
	RoleSID        string            `json:"role_sid"`
	Identity       string            `json:"identity"`
	FriendlyName   *string           `json:"friendly_name"`
	Attributes     string            `json:"attributes"`
	IsOnline       *bool             `json:"is_online"`
	IsNotifiable   *bool             `json:"is_notifiable"`
	DateCreated    string            `json:"date_created"`
	DateUpdated    string            `json:"date_updated"`
	URL            string            `json:"url"`
	Links          map[string]string `json:"links"`
}

type configurationJSON struct {
	AccountSID                 string            `json:"account_sid"`
	DefaultChatServiceSID      string            `json:"default_chat_service_sid"`
	DefaultMessagingServiceSID string            `json:"default_messaging_service_sid"`
	DefaultInactiveTimer       *string           `json:"default_inactive_timer"`
	DefaultClosedTimer         *string           `json:"default_closed_timer"`
	URL                        string            `json:"url"`
	Links                      map[string]string `json:"links"`
}

type addressJSON struct {
	SID            string          `json:"sid"`
	AccountSID     string          `json:"account_sid"`
	Type           string          `json:"type"`
	Address        string          `json:"address"`
	FriendlyName   string          `json:"friendly_name"`
	AutoCreation   json.RawMessage `json:"auto_creation"`
	DateCreated    string          `json:"date_created"`
	DateUpdated    string          `json:"date_updated"`
	URL            string          `json:"url"`
	AddressCountry *string         `json:"address_country"`
}

type conversationsServiceJSON struct {
	AccountSID   string            `json:"account_sid"`
	SID          string            `json:"sid"`
	FriendlyName string            `json:"friendly_name"`
	DateCreated  string            `json:"date_created"`
	DateUpdated  string            `json:"date_updated"`
	URL          string            `json:"url"`
	Links        map[string]string `json:"links"`
}

type flexFlowJSON struct {
	AccountSID      string          `json:"account_sid"`
	DateCreated     string          `json:"date_created"`
	DateUpdated     string          `json:"date_updated"`
	SID             string          `json:"sid"`
	FriendlyName    string          `json:"friendly_name"`
	ChatServiceSID  string          `json:"chat_service_sid"`
	ChannelType     string          `json:"channel_type"`
	ContactIdentity *string         `json:"contact_identity"`
	Enabled         bool            `json:"enabled"`
	IntegrationType string          `json:"integration_type"`
	Integration     json.RawMessage `json:"integration"`
	LongLived       bool            `json:"long_lived"`
	JanitorEnabled  bool            `json:"janitor_enabled"`
	URL             string          `json:"url"`
}

type flexChannelJSON struct {
	AccountSID  string  `json:"account_sid"`
	FlexFlowSID string  `json:"flex_flow_sid"`
	SID         string  `json:"sid"`
	UserSID     string  `json:"user_sid"`
	TaskSID     *string `json:"task_sid"`
	URL         string  `json:"url"`
	DateCreated string  `json:"date_created"`
	DateUpdated string  `json:"date_updated"`
}

type flexWebChannelJSON struct {
	AccountSID  string `json:"account_sid"`
	FlexFlowSID string `json:"flex_flow_sid"`
	SID         string `json:"sid"`
	URL         string `json:"url"`
	DateCreated string `json:"date_created"`
	DateUpdated string `json:"date_updated"`
}

type chatServiceJSON struct {
	SID                          string            `json:"sid"`
	AccountSID                   string            `json:"account_sid"`
	FriendlyName                 string            `json:"friendly_name"`
	DateCreated                  string            `json:"date_created"`
	DateUpdated                  string            `json:"date_updated"`
	DefaultServiceRoleSID        string            `json:"default_service_role_sid"`
	DefaultChannelRoleSID        string            `json:"default_channel_role_sid"`
	DefaultChannelCreatorRoleSID string            `json:"default_channel_creator_role_sid"`
	ReadStatusEnabled            bool              `json:"read_status_enabled"`
	ReachabilityEnabled          bool              `json:"reachability_enabled"`
	TypingIndicatorTimeout       int               `json:"typing_indicator_timeout"`
	ConsumptionReportInterval    int               `json:"consumption_report_interval"`
	Limits                       map[string]int    `json:"limits"`
	PreWebhookURL                *string           `json:"pre_webhook_url"`
	PostWebhookURL               *string           `json:"post_webhook_url"`
	WebhookMethod                string            `json:"webhook_method"`
	WebhookFilters               []string          `json:"webhook_filters"`
	PreWebhookRetryCount         int               `json:"pre_webhook_retry_count"`
	PostWebhookRetryCount        int               `json:"post_webhook_retry_count"`
	Notifications                map[string]any    `json:"notifications"`
	Media                        map[string]any    `json:"media"`
	URL                          string            `json:"url"`
	Links                        map[string]string `json:"links"`
}

type chatChannelJSON struct {
	SID           string            `json:"sid"`
	AccountSID    string            `json:"account_sid"`
	ServiceSID    string            `json:"service_sid"`
	FriendlyName  *string           `json:"friendly_name"`
	UniqueName    *string           `json:"unique_name"`
	Attributes    string            `json:"attributes"`
	Type          string            `json:"type"`
	DateCreated   string            `json:"date_created"`
	DateUpdated   string            `json:"date_updated"`
	CreatedBy     string            `json:"created_by"`
	MembersCount  int               `json:"members_count"`
	MessagesCount int               `json:"messages_count"`
	URL           string            `json:"url"`
	Links         map[string]string `json:"links"`
}

type chatMemberJSON struct {
	SID                      string  `json:"sid"`
	AccountSID               string  `json:"account_sid"`
	ChannelSID               string  `json:"channel_sid"`
	ServiceSID               string  `json:"service_sid"`
	Identity                 string  `json:"identity"`
	DateCreated              string  `json:"date_created"`
	DateUpdated              string  `json:"date_updated"`
	RoleSID                  string  `json:"role_sid"`
	LastConsumedMessageIndex *int    `json:"last_consumed_message_index"`
	LastConsumptionTimestamp *string `json:"last_consumption_timestamp"`
	URL                      string  `json:"url"`
	Attributes               string  `json:"attributes"`
}

type chatMessageJSON struct {
	SID           string  `json:"sid"`
	AccountSID    string  `json:"account_sid"`
	Attributes    string  `json:"attributes"`
	ServiceSID    string  `json:"service_sid"`
	To            string  `json:"to"`
	ChannelSID    string  `json:"channel_sid"`
	DateCreated   string  `json:"date_created"`
	DateUpdated   string  `json:"date_updated"`
	LastUpdatedBy *string `json:"last_updated_by"`
	WasEdited     bool    `json:"was_edited"`
	From          string  `json:"from"`
	Body          string  `json:"body"`
	Index         int     `json:"index"`
	Type          string  `json:"type"`
	Media         any     `json:"media"`
	URL           string  `json:"url"`
}

type chatUserJSON struct {
	SID                 string            `json:"sid"`
	AccountSID          string            `json:"account_sid"`
	ServiceSID          string            `json:"service_sid"`
	Attributes          string            `json:"attributes"`
	FriendlyName        *string           `json:"friendly_name"`
	RoleSID             string            `json:"role_sid"`
	Identity            string            `json:"identity"`
	IsOnline            *bool             `json:"is_online"`
	IsNotifiable        *bool             `json:"is_notifiable"`
	DateCreated         string            `json:"date_created"`
	DateUpdated         string            `json:"date_updated"`
	JoinedChannelsCount int               `json:"joined_channels_count"`
	Links               map[string]string `json:"links"`
	URL                 string            `json:"url"`
}

type userChannelJSON struct {
	AccountSID               string            `json:"account_sid"`
	ServiceSID               string            `json:"service_sid"`
	ChannelSID               string            `json:"channel_sid"`
	UserSID                  string            `json:"user_sid"`
	MemberSID                string            `json:"member_sid"`
	Status                   string            `json:"status"`
	LastConsumedMessageIndex *int              `json:"last_consumed_message_index"`
	UnreadMessagesCount      *int              `json:"unread_messages_count"`
	Links                    map[string]string `json:"links"`
	URL                      string            `json:"url"`
	NotificationLevel        *string           `json:"notification_level"`
}

type taskJSON struct {
	AccountSID            string            `json:"account_sid"`
	Age                   int               `json:"age"`
	AssignmentStatus      string            `json:"assignment_status"`
	Attributes            string            `json:"attributes"`
	Addons                string            `json:"addons"`
	DateCreated           string            `json:"date_created"`
	DateUpdated           string            `json:"date_updated"`
	TaskQueueEnteredDate  string            `json:"task_queue_entered_date"`
	Priority              int               `json:"priority"`
	Reason                *string           `json:"reason"`
	SID                   string            `json:"sid"`
	TaskQueueSID          string            `json:"task_queue_sid"`
	TaskQueueFriendlyName string            `json:"task_queue_friendly_name"`
	TaskChannelSID        string            `json:"task_channel_sid"`
	TaskChannelUniqueName string            `json:"task_channel_unique_name"`
	Timeout               int               `json:"timeout"`
	WorkflowSID           string            `json:"workflow_sid"`
	WorkflowFriendlyName  string            `json:"workflow_friendly_name"`
	WorkspaceSID          string            `json:"workspace_sid"`
	URL                   string            `json:"url"`
	Links                 map[string]string `json:"links"`
	VirtualStartTime      string            `json:"virtual_start_time"`
	IgnoreCapacity        bool              `json:"ignore_capacity"`
	RoutingTarget         *string           `json:"routing_target"`
}

var jsonNull = json.RawMessage("null")

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (e *Emulator) conversationJSON(c *conversation) conversationJSON {
	u := conversationURL(c.sid)
	return conversationJSON{
		AccountSID:     e.cfg.AccountSID,
		ChatServiceSID: e.cfg.ConversationsServiceSID,
		SID:            c.sid,
		FriendlyName:   nullable(c.friendlyName),
		UniqueName:     nullable(c.uniqueName),
		Attributes:     c.attributes,
		State:          c.state,
		DateCreated:    timestamp(c.created),
		DateUpdated:    timestamp(c.updated),
		Timers:         c.timers.json(c.state),
		URL:            u,
		Links: map[string]string{
			"participants": u + "/Participants",
			"messages":     u + "/Messages",
			"webhooks":     u + "/Webhooks",
		},
		Bindings: jsonNull,
	}
}

func (e *Emulator) participantJSON(x membership[*conversation]) participantJSON {
	c, p := x.chat, x.member
	return participantJSON{
		AccountSID:       e.cfg.AccountSID,
		ConversationSID:  c.sid,
		SID:              p.sid,
		Identity:         nullable(p.identity),
		Attributes:       p.attributes,
		MessagingBinding: jsonNull,
		RoleSID:          p.roleSID,
		DateCreated:      timestamp(p.created),
		DateUpdated:      timestamp(p.updated),
		URL:              conversationURL(c.sid) + "/Participants/" + p.sid,
	}
}

func (e *Emulator) participantConversationJSON(x membership[*conversation]) participantConversationJSON {
	c, p := x.chat, x.member
	var userSID *string
	if u := e.users.named(p.identity); u != nil {
		userSID = &u.sid
	}
	return participantConversationJSON{
		AccountSID:                  e.cfg.AccountSID,
		ChatServiceSID:              e.cfg.ConversationsServiceSID,
		ParticipantSID:              p.sid,
		ParticipantUserSID:          userSID,
		ParticipantIdentity:         nullable(p.identity),
		ParticipantMessagingBinding: jsonNull,
		ConversationSID:             c.sid,
		ConversationUniqueName:      nullable(c.uniqueName),
		ConversationFriendlyName:    nullable(c.friendlyName),
		ConversationAttributes:      c.attributes,
		ConversationDateCreated:     timestamp(c.created),
		ConversationDateUpdated:     timestamp(c.updated),
		ConversationState:           c.state,
		ConversationTimers:          c.timers.json(c.state),
		Links: map[string]string{
			"participant":  conversationURL(c.sid) + "/Participants/" + p.sid,
			"conversation": conversationURL(c.sid),
		},
	}
}

func (e *Emulator) messageJSON(c *conversation, m *message) messageJSON {
	u := conversationURL(c.sid) + "/Messages/" + m.sid
	return messageJSON{
		AccountSID:      e.cfg.AccountSID,
		ConversationSID: c.sid,
		SID:             m.sid,
		Index:           m.index,
		Author:          m.author,
		Body:            nullable(m.body),
		Attributes:      m.attributes,
		ParticipantSID:  nullable(m.participantSID),
		DateCreated:     timestamp(m.created),
		DateUpdated:     timestamp(m.updated),
		URL:             u,
		Delivery:        jsonNull,
		Links: map[string]string{
			"delivery_receipts": u + "/Receipts",
			"channel_metadata":  u + "/ChannelMetadata",
		},
	}
}

func (e *Emulator) userJSON(u *user) userJSON {
	self := conversationsAPI + "/Users/" + u.sid
	offline := false
	return userJSON{
		SID:            u.sid,
		AccountSID:     e.cfg.AccountSID,
		ChatServiceSID: e.cfg.ConversationsServiceSID,
		RoleSID:        u.roleSID,
		Identity:       u.identity,
		FriendlyName:   nullable(u.friendlyName),
		Attributes:     u.attributes,
		IsOnline:       &offline,
		DateCreated:    timestamp(u.created),
		DateUpdated:    timestamp(u.updated),
		URL:            self,
		Links:          map[string]string{"user_conversations": self + "/Conversations"},
	}
}

func (e *Emulator) flexFlowJSON(f *flexFlow) flexFlowJSON {
	integration := map[string]any{}
	if f.integrationType == "task" {
		integration = map[string]any{"workspace_sid": e.cfg.WorkspaceSID, "workflow_sid": e.cfg.WorkflowSID,
			"channel": e.taskChannelSID, "priority": 0, "timeout": 86400, "creation_on_message": false}
	}
	raw, _ := json.Marshal(integration)
	return flexFlowJSON{
		AccountSID:      e.cfg.AccountSID,
		DateCreated:     timestamp(f.created),
		DateUpdated:     timestamp(f.updated),
		SID:             f.sid,
		FriendlyName:    f.friendlyName,
		ChatServiceSID:  f.chatServiceSID,
		ChannelType:     f.channelType,
		ContactIdentity: nullable(f.contactIdentity),
		Enabled:         f.enabled,
		IntegrationType: f.integrationType,
		Integration:     raw,
		LongLived:       f.longLived,
		JanitorEnabled:  f.janitorEnabled,
		URL:             flexAPI + "/FlexFlows/" + f.sid,
	}
}

// channelURL and chatUserURL are the canonical URLs of a channel and a
// Chat user of the Chat service.
func (e *Emulator) channelURL(sid string) string {
	return chatAPI + "/Services/" + e.cfg.ChatServiceSID + "/Channels/" + sid
}

func (e *Emulator) chatUserURL(sid string) string {
	return chatAPI + "/Services/" + e.cfg.ChatServiceSID + "/Users/" + sid
}

func (e *Emulator) chatChannelJSON(ch *channel) chatChannelJSON {
	u := e.channelURL(ch.sid)
	return chatChannelJSON{
		SID:           ch.sid,
		AccountSID:    e.cfg.AccountSID,
		ServiceSID:    e.cfg.ChatServiceSID,
		FriendlyName:  nullable(ch.friendlyName),
		UniqueName:    nullable(ch.uniqueName),
		Attributes:    ch.attributes,
		Type:          "private",
		DateCreated:   timestamp(ch.created),
		DateUpdated:   timestamp(ch.updated),
		CreatedBy:     ch.createdBy,
		MembersCount:  len(ch.members),
		MessagesCount: len(ch.messages),
		URL:           u,
		Links: map[string]string{
			"members":  u + "/Members",
			"messages": u + "/Messages",
			"invites":  u + "/Invites",
			"webhooks": u + "/Webhooks",
			"last_message": func() string {
				if len(ch.messages) == 0 {
					return u + "/Messages"
				}
				return u + "/Messages/" + ch.messages[len(ch.messages)-1].sid
			}(),
		},
	}
}

func (e *Emulator) chatMemberJSON(x membership[*channel]) chatMemberJSON {
	ch, m := x.chat, x.member
	return chatMemberJSON{
		SID:         m.sid,
		AccountSID:  e.cfg.AccountSID,
		ChannelSID:  ch.sid,
		ServiceSID:  e.cfg.ChatServiceSID,
		Identity:    m.identity,
		DateCreated: timestamp(m.created),
		DateUpdated: timestamp(m.updated),
		RoleSID:     m.roleSID,
		URL:         e.channelURL(ch.sid) + "/Members/" + m.sid,
		Attributes:  m.attributes,
	}
}

func (e *Emulator) chatMessageJSON(ch *channel, m *message) chatMessageJSON {
	return chatMessageJSON{
		SID:         m.sid,
		AccountSID:  e.cfg.AccountSID,
		Attributes:  m.attributes,
		ServiceSID:  e.cfg.ChatServiceSID,
		To:          ch.sid,
		ChannelSID:  ch.sid,
		DateCreated: timestamp(m.created),
		DateUpdated: timestamp(m.updated),
		From:        m.author,
		Body:        m.body,
		Index:       m.index,
		Type:        "text",
		URL:         e.channelURL(ch.sid) + "/Messages/" + m.sid,
	}
}

func (e *Emulator) chatUserJSON(u *user) chatUserJSON {
	self := e.chatUserURL(u.sid)
	offline := false
	joined := len(memberships(&e.channels, u.identity))
	return chatUserJSON{
		SID:                 u.sid,
		AccountSID:          e.cfg.AccountSID,
		ServiceSID:          e.cfg.ChatServiceSID,
		Attributes:          u.attributes,
		FriendlyName:        nullable(u.friendlyName),
		RoleSID:             u.roleSID,
		Identity:            u.identity,
		IsOnline:            &offline,
		DateCreated:         timestamp(u.created),
		DateUpdated:         timestamp(u.updated),
		JoinedChannelsCount: joined,
		Links: map[string]string{
			"user_channels": self + "/Channels",
			"user_bindings": self + "/Bindings",
		},
		URL: self,
	}
}

func (e *Emulator) userChannelJSON(u *user, x membership[*channel]) userChannelJSON {
	ch, m := x.chat, x.member
	unread := len(ch.messages)
	level := "default"
	return userChannelJSON{
		AccountSID: e.cfg.AccountSID, ServiceSID: e.cfg.ChatServiceSID, ChannelSID: ch.sid, UserSID: u.sid,
		MemberSID: m.sid, Status: "joined", UnreadMessagesCount: &unread,
		Links: map[string]string{
			"channel": e.channelURL(ch.sid),
			"member":  e.channelURL(ch.sid) + "/Members/" + m.sid,
		},
		URL:               e.chatUserURL(u.sid) + "/Channels/" + ch.sid,
		NotificationLevel: &level,
	}
}

func (e *Emulator) taskJSON(t *task) taskJSON {
	ws := taskrouterAPI + "/Workspaces/" + e.cfg.WorkspaceSID
	u := ws + "/Tasks/" + t.sid
	var queueName, channelName, workflowName string
	if q := e.queues.withSID(t.queueSID); q != nil {
		queueName = q.friendlyName
	}
	if ch := e.taskChannels.withSID(t.channelSID); ch != nil {
		channelName = ch.uniqueName
	}
	if wf := e.workflows.withSID(t.workflowSID); wf != nil {
		workflowName = wf.friendlyName
	}
	return taskJSON{
		AccountSID:            e.cfg.AccountSID,
		Age:                   int(time.Since(t.created).Seconds()),
		AssignmentStatus:      t.status,
		Attributes:            t.attributes,
		Addons:                "{}",
		DateCreated:           timestamp(t.created),
		DateUpdated:           timestamp(t.updated),
		TaskQueueEnteredDate:  timestamp(t.created),
		Reason:                nullable(t.reason),
		SID:                   t.sid,
		TaskQueueSID:          t.queueSID,
		TaskQueueFriendlyName: queueName,
		TaskChannelSID:        t.channelSID,
		TaskChannelUniqueName: channelName,
		Timeout:               86400,
		WorkflowSID:           t.workflowSID,
		WorkflowFriendlyName:  workflowName,
		WorkspaceSID:          e.cfg.WorkspaceSID,
		URL:                   u,
		Links: map[string]string{
			"workspace":    ws,
			"workflow":     ws + "/Workflows/" + t.workflowSID,
			"task_queue":   ws + "/TaskQueues/" + t.queueSID,
			"reservations": u + "/Reservations",
		},
		VirtualStartTime: timestamp(t.created),
	}
}

// apiError is Twilio's error body.
type apiError struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, apiError{
		Code:     code,
		Message:  msg,
		MoreInfo: "https://www.twilio.com/docs/errors/" + itoa(code),
		Status:   status,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // the emulator's own types always marshal
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
