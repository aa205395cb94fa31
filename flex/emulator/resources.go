package emulator

import (
	"encoding/json"
	"net/http"
	"time"
)

// The resources, as the emulator keeps them. Guarded by Emulator.mu.

type conversation struct {
	sid          string
	friendlyName string
	uniqueName   string
	attributes   string // JSON
	state        string // initializing | inactive | active | closed
	created      time.Time
	updated      time.Time
	participants []*participant
	messages     []*message
	nextIndex    int
}

type participant struct {
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
	participantSID string // "" when the author is not a participant
	created        time.Time
	updated        time.Time
}

type user struct {
	sid          string
	identity     string
	friendlyName string
	attributes   string
	roleSID      string
	created      time.Time
	updated      time.Time
}

// Twilio's canonical URLs, which the emulator puts in responses like Twilio.
const (
	conversationsAPI = "https://conversations.twilio.com/v1"
)

func conversationURL(sid string) string { return conversationsAPI + "/Conversations/" + sid }

// The JSON shapes, field for field as in Twilio's OpenAPI descriptions
// (twilio_conversations_v1.json, twilio_flex_v2.json). Nullable fields that
// the emulator never sets are always null.

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
		Timers:         map[string]string{},
		URL:            u,
		Links: map[string]string{
			"participants": u + "/Participants",
			"messages":     u + "/Messages",
			"webhooks":     u + "/Webhooks",
		},
		Bindings: jsonNull,
	}
}

func (e *Emulator) participantJSON(c *conversation, p *participant) participantJSON {
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
