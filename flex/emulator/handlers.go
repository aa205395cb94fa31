package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Twilio error codes the emulator answers with.
const (
	codeInvalidParameter   = 20001 // missing or invalid parameter
	codeForbidden          = 20403 // the credentials may not do this
	codeNotFound           = 20404 // the requested resource was not found
	codeInvalidAttributes  = 50304 // attributes are not valid JSON
	codeUniqueNameTaken    = 50353 // a conversation already has this unique name
	codeChannelNameTaken   = 50307 // a chat channel already has this unique name
	codeConversationClosed = 50377 // a closed conversation cannot be changed
	codeAccessTokenInvalid = 20101 // the access token is not valid
	codeAccessTokenExpired = 20104 // the access token expired
)

func itoa(n int) string { return strconv.Itoa(n) }

func notFound(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, PathPrefix)
	if _, rest, ok := strings.Cut(path, "/"); ok { // drop the host label
		if _, rest, ok := strings.Cut(rest, "/"); ok { // and the version, like Twilio's messages
			path = "/" + rest
		}
	}
	writeError(w, http.StatusNotFound, codeNotFound, "The requested resource "+path+" was not found")
}

func missing(w http.ResponseWriter, name string) {
	writeError(w, http.StatusBadRequest, codeInvalidParameter, "Missing required parameter "+name+" in the post body")
}

// webhooksEnabled reports whether a REST call asked for webhooks: like
// Twilio, actions taken through the REST API fire webhooks only with
// X-Twilio-Webhook-Enabled: true.
func webhooksEnabled(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("X-Twilio-Webhook-Enabled"), "true")
}

// preEngagement parses PreEngagementData; ok is false (and a 400 written)
// when it is not JSON.
func preEngagement(w http.ResponseWriter, f url.Values) (any, bool) {
	var pre any = map[string]any{}
	if raw := f.Get("PreEngagementData"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &pre); err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid PreEngagementData: not valid JSON")
			return nil, false
		}
	}
	return pre, true
}

// createWebChat emulates POST https://flex-api.twilio.com/v2/WebChats: like
// Flex it creates the conversation, the customer's participant and the
// customer's Conversations user when the identity has none yet. No task yet:
// the customer's first message runs the address's Studio flow, which makes
// it (see studioflow.go).
func (e *Emulator) createWebChat(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	address := f.Get("AddressSid")
	switch {
	case address == "":
		missing(w, "AddressSid")
		return
	case !validSID(address, "IG"):
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid AddressSid: "+address)
		return
	case e.addresses.withSID(address) == nil || e.addresses.withSID(address).typ != "chat":
		writeError(w, http.StatusNotFound, codeNotFound, "The requested resource /Configuration/Addresses/"+address+" was not found")
		return
	}
	pre, ok := preEngagement(w, f)
	if !ok {
		return
	}
	identity := f.Get("Identity")
	if identity == "" {
		identity = newSID("") // Flex makes up an identity for anonymous guests
	}
	customer := f.Get("CustomerFriendlyName")
	if customer == "" {
		customer = identity
	}
	chatName := f.Get("ChatFriendlyName")
	if chatName == "" {
		chatName = customer
	}
	convAttrs, _ := json.Marshal(map[string]any{"pre_engagement_data": pre, "from": customer})
	partAttrs, _ := json.Marshal(map[string]any{"friendlyName": customer})

	now := e.now()
	e.userFor(&e.users, identity, customer, now)
	c := &conversation{chat: chat{sid: newSID("CH"), friendlyName: chatName, attributes: string(convAttrs),
		created: now, updated: now}, state: "active", addressSID: address, customer: identity}
	e.join(&c.chat, identity, string(partAttrs), now)
	e.conversations.add(c)

	writeJSON(w, http.StatusCreated, webChannelJSON{ConversationSID: c.sid, Identity: identity})
}

// conversationOf finds the conversation the request's {sid} names (its SID
// or unique name) and, for a customer's call, checks the customer takes
// part in it (see customerChat).
func (e *Emulator) conversationOf(w http.ResponseWriter, r *http.Request) (*conversation, bool) {
	return customerChat(w, r, &e.conversations, "participant of this conversation")
}

// conversationClosedMessage is Twilio's message of error 50377
// (https://www.twilio.com/docs/api/errors/50377).
const conversationClosedMessage = "Can't update conversation as it's in final closed state"

// openConversationOf finds the conversation like conversationOf, and
// answers Twilio's 50377 when it is closed: closed is final.
func (e *Emulator) openConversationOf(w http.ResponseWriter, r *http.Request) (*conversation, bool) {
	c, ok := e.conversationOf(w, r)
	if ok && c.state == "closed" {
		writeError(w, http.StatusBadRequest, codeConversationClosed, conversationClosedMessage)
		return nil, false
	}
	return c, ok
}

// settableStates are the states an update may set; conversationStates the
// ones a conversation may be in.
var (
	settableStates     = map[string]bool{"active": true, "inactive": true, "closed": true}
	conversationStates = map[string]bool{"initializing": true, "active": true, "inactive": true, "closed": true}
)

// conversationFormValid checks the Attributes and State of a conversation
// update's form; on a bad one it answers 400.
func conversationFormValid(w http.ResponseWriter, f url.Values) bool {
	if !attributesValid(w, f) {
		return false
	}
	if v, ok := f["State"]; ok && !settableStates[v[0]] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid State: "+v[0])
		return false
	}
	return true
}

// applyConversation applies an update's form to c (see update).
func (e *Emulator) applyConversation(w http.ResponseWriter, r *http.Request, c *conversation) bool {
	f := r.PostForm
	if c.state == "closed" { // closed is final: no change, not even reopening
		writeError(w, http.StatusBadRequest, codeConversationClosed, conversationClosedMessage)
		return false
	}
	if nameTaken(&e.conversations, c, f) {
		writeError(w, http.StatusConflict, codeUniqueNameTaken, "Conversation with provided unique name already exists")
		return false
	}
	t := c.timers
	timersSet, ok := timersForm(w, f, &t)
	if !ok {
		return false
	}
	if timersSet {
		t.arm(e.now())
		c.timers = t
	}
	setFromForm(f, "FriendlyName", &c.friendlyName)
	setFromForm(f, "UniqueName", &c.uniqueName)
	setFromForm(f, "Attributes", &c.attributes)
	c.updated = e.now()
	if v, ok := f["State"]; ok && v[0] != c.state {
		e.setConversationState(c, v[0], "API", webhooksEnabled(r))
	}
	return true
}

// setConversationState moves c to state, ends its task when it closes and,
// when notify, sends onConversationStateUpdated. e.mu must be held.
func (e *Emulator) setConversationState(c *conversation, state, reason string, notify bool) {
	from := c.state
	c.state = state
	c.updated = e.now()
	if state == "closed" {
		e.endTask(c.task)
	}
	if notify {
		e.sendConversationsWebhook("onConversationStateUpdated", c, url.Values{
			"StateFrom":    {from},
			"StateTo":      {state},
			"StateUpdated": {timestamp(c.updated)},
			"Reason":       {reason},
		})
	}
}

// conversationRemoved sends onConversationRemoved; e.mu must be held.
func (e *Emulator) conversationRemoved(c *conversation) {
	e.sendConversationsWebhook("onConversationRemoved", c, url.Values{
		"FriendlyName": {c.friendlyName},
		"UniqueName":   {c.uniqueName},
		"Attributes":   {c.attributes},
		"State":        {c.state},
	})
}

func (e *Emulator) listConversations(w http.ResponseWriter, r *http.Request) {
	state, filters, p, ok := filteredPage(w, r.URL.Query(), "State", conversationStates, maxPageSize)
	if ok {
		all := e.conversations.where(func(c *conversation) bool { return matches(state, c.state) })
		writePage(w, p, "conversations", conversationsAPI+"/Conversations", filters, all, e.conversationJSON)
	}
}

// listParticipantConversations serves GET /v1/ParticipantConversations and
// /v1/Services/{ChatServiceSid}/ParticipantConversations: the conversations
// an identity takes part in, oldest first.
func (e *Emulator) listParticipantConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	identity, address := q.Get("Identity"), q.Get("Address")
	if identity == "" && address == "" {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Either Identity or Address must be specified")
		return
	}
	base := conversationsAPI + "/ParticipantConversations"
	if svc := r.PathValue("service"); svc != "" {
		if !pathIs(w, r, "service", e.cfg.ConversationsServiceSID) {
			return
		}
		base = conversationsAPI + "/Services/" + svc + "/ParticipantConversations"
	}
	p, ok := parsePage(w, q, maxPageSize)
	if !ok {
		return
	}
	var all []membership[*conversation]
	if identity != "" { // nobody emulated has a messaging address
		all = memberships(&e.conversations, identity)
	}
	writePage(w, p, "conversations", base, filtersOf(q, "Identity", "Address"), all, e.participantConversationJSON)
}

// participantOf finds {participant} (a SID or an identity) in the
// conversation {sid}.
func (e *Emulator) participantOf(w http.ResponseWriter, r *http.Request) (membership[*conversation], bool) {
	c, ok := lookup(w, r, &e.conversations, r.PathValue("sid"))
	if !ok {
		return membership[*conversation]{}, false
	}
	key := r.PathValue("participant")
	for _, p := range c.members {
		if p.sid == key || p.identity == key {
			return membership[*conversation]{c, p}, true
		}
	}
	notFound(w, r)
	return membership[*conversation]{}, false
}

// applyParticipant applies an update's form to p (see update).
func (e *Emulator) applyParticipant(w http.ResponseWriter, r *http.Request, p membership[*conversation]) bool {
	f := r.PostForm
	setFromForm(f, "Attributes", &p.member.attributes)
	if v, ok := f["RoleSid"]; ok && v[0] != "" {
		p.member.roleSID = v[0]
	}
	p.member.updated = e.now()
	return true
}

// applyUser applies an UpdateUser form to u (see update).
func (e *Emulator) applyUser(w http.ResponseWriter, r *http.Request, u *user) bool {
	f := r.PostForm
	setFromForm(f, "FriendlyName", &u.friendlyName)
	setFromForm(f, "Attributes", &u.attributes)
	if v, ok := f["RoleSid"]; ok && v[0] != "" {
		u.roleSID = v[0]
	}
	u.updated = e.now()
	return true
}

// userOf finds the Conversations user the request's {sid} names: its SID
// or, as at Twilio, its identity.
func (e *Emulator) userOf(w http.ResponseWriter, r *http.Request) (*user, bool) {
	return lookup(w, r, &e.users, r.PathValue("sid"))
}

func (e *Emulator) fetchConversationsConfiguration(w http.ResponseWriter, r *http.Request) {
	self := conversationsAPI + "/Configuration"
	writeJSON(w, http.StatusOK, configurationJSON{
		AccountSID:                 e.cfg.AccountSID,
		DefaultChatServiceSID:      e.cfg.ConversationsServiceSID,
		DefaultMessagingServiceSID: e.messagingSID,
		URL:                        self,
		Links: map[string]string{
			"service":   conversationsAPI + "/Services/" + e.cfg.ConversationsServiceSID + "/Configuration",
			"webhooks":  self + "/Webhooks",
			"addresses": self + "/Addresses",
		},
	})
}

// conversationsServiceJSON is the Conversations service sid, the only one
// there is.
func (e *Emulator) conversationsServiceJSON(sid string) conversationsServiceJSON {
	self := conversationsAPI + "/Services/" + sid
	created := timestamp(e.created)
	return conversationsServiceJSON{
		AccountSID: e.cfg.AccountSID, SID: sid, FriendlyName: "Flex Conversations Service",
		DateCreated: created, DateUpdated: created, URL: self,
		Links: map[string]string{
			"conversations":                  self + "/Conversations",
			"users":                          self + "/Users",
			"roles":                          self + "/Roles",
			"bindings":                       self + "/Bindings",
			"configuration":                  self + "/Configuration",
			"participant_conversations":      self + "/ParticipantConversations",
			"conversation_with_participants": self + "/ConversationWithParticipants",
		},
	}
}

// validSID reports whether s is prefix followed by 32 hex digits.
func validSID(s, prefix string) bool {
	if len(s) != len(prefix)+32 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range s[len(prefix):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
