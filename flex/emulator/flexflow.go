package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The legacy Flex: Flex API v1 Flex Flows and Flex channels, and the
// Programmable Chat v2 resources a Flex channel lives in.

// flowOf finds the Flex Flow of the request's {sid}.
func (e *Emulator) flowOf(w http.ResponseWriter, r *http.Request) (*flexFlow, bool) {
	return lookup(w, r, &e.flows, r.PathValue("sid"))
}

func (e *Emulator) listFlexFlows(w http.ResponseWriter, r *http.Request) {
	name, filters, p, ok := filteredPage(w, r.URL.Query(), "FriendlyName", nil, maxPageSize)
	if ok {
		all := e.flows.where(func(f *flexFlow) bool { return matches(name, f.friendlyName) })
		writePage(w, p, "flex_flows", flexAPI+"/FlexFlows", filters, all, e.flexFlowJSON)
	}
}

var channelTypes = map[string]bool{"web": true, "sms": true, "facebook": true, "whatsapp": true, "line": true, "custom": true}
var integrationTypes = map[string]bool{"studio": true, "external": true, "task": true}

// applyFlow sets the fields of f that form sets, after checking them all;
// it writes a 400 and returns false on a bad one.
func applyFlow(w http.ResponseWriter, f *flexFlow, form url.Values) bool {
	boolean := func(name string, dst *bool) bool {
		v, ok := form[name]
		if !ok {
			return true
		}
		b, err := strconv.ParseBool(v[0])
		if err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid "+name+": "+v[0])
			return false
		}
		*dst = b
		return true
	}
	if v, ok := form["ChannelType"]; ok && !channelTypes[v[0]] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid ChannelType: "+v[0])
		return false
	}
	if v, ok := form["IntegrationType"]; ok && !integrationTypes[v[0]] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid IntegrationType: "+v[0])
		return false
	}
	if v, ok := form["ChatServiceSid"]; ok && !validSID(v[0], "IS") {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid ChatServiceSid: "+v[0])
		return false
	}
	g := *f
	if !boolean("Enabled", &g.enabled) || !boolean("LongLived", &g.longLived) || !boolean("JanitorEnabled", &g.janitorEnabled) {
		return false
	}
	setFromForm(form, "FriendlyName", &g.friendlyName)
	setFromForm(form, "ChannelType", &g.channelType)
	setFromForm(form, "IntegrationType", &g.integrationType)
	setFromForm(form, "ChatServiceSid", &g.chatServiceSID)
	setFromForm(form, "ContactIdentity", &g.contactIdentity)
	*f = g
	return true
}

func (e *Emulator) createFlexFlow(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	form := r.PostForm
	for _, name := range []string{"FriendlyName", "ChatServiceSid", "ChannelType"} {
		if form.Get(name) == "" {
			missing(w, name)
			return
		}
	}
	now := e.now()
	f := &flexFlow{sid: newSID("FO"), enabled: true, integrationType: "studio", created: now, updated: now}
	if !applyFlow(w, f, form) {
		return
	}
	e.flows.add(f)
	writeJSON(w, http.StatusCreated, e.flexFlowJSON(f))
}

// applyFlowUpdate applies an update's form to f (see update and applyFlow).
func (e *Emulator) applyFlowUpdate(w http.ResponseWriter, r *http.Request, f *flexFlow) bool {
	if !applyFlow(w, f, r.PostForm) {
		return false
	}
	f.updated = e.now()
	return true
}

// openFlexChannel is what Flex does for POST /v1/Channels and
// /v1/WebChannels: a Chat user for the identity unless it has one, a Chat
// channel marked ACTIVE with the pre-engagement data, the customer as its
// member, and a task. customerField names the friendly-name parameter.
// It writes the error and returns nil on failure.
func (e *Emulator) openFlexChannel(w http.ResponseWriter, r *http.Request, customerField string) (*channel, *flexFlow, *user) {
	_ = r.ParseForm()
	form := r.PostForm
	for _, name := range []string{"FlexFlowSid", "Identity", customerField, "ChatFriendlyName"} {
		if form.Get(name) == "" {
			missing(w, name)
			return nil, nil, nil
		}
	}
	pre, ok := preEngagement(w, form)
	if !ok {
		return nil, nil, nil
	}
	identity, customer, uniqueName := form.Get("Identity"), form.Get(customerField), form.Get("ChatUniqueName")

	flow := e.flows.withSID(form.Get("FlexFlowSid"))
	switch {
	case flow == nil:
		writeError(w, http.StatusNotFound, codeNotFound, "The requested resource /FlexFlows/"+form.Get("FlexFlowSid")+" was not found")
		return nil, nil, nil
	case !flow.enabled:
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Flex Flow "+flow.sid+" is disabled")
		return nil, nil, nil
	case flow.chatServiceSID != e.cfg.ChatServiceSID:
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Flex Flow "+flow.sid+" uses an unknown Chat service")
		return nil, nil, nil
	case e.channels.get(uniqueName) != nil:
		writeError(w, http.StatusConflict, codeChannelNameTaken, "Channel with provided unique name already exists")
		return nil, nil, nil
	}
	now := e.now()
	u := e.userFor(&e.chatUsers, identity, customer, now)
	attrs, _ := json.Marshal(map[string]any{"status": "ACTIVE", "long_lived": flow.longLived, "from": customer,
		"channel_type": flow.channelType, "pre_engagement_data": pre})
	ch := &channel{chat: chat{sid: newSID("CH"), uniqueName: uniqueName, friendlyName: form.Get("ChatFriendlyName"),
		attributes: string(attrs), created: now, updated: now}, createdBy: "system", flowSID: flow.sid}
	e.join(&ch.chat, identity, "{}", now)
	if flow.integrationType == "task" {
		ch.task = e.newTask(map[string]any{"channelSid": ch.sid, "channelType": flow.channelType, "name": customer,
			"from": identity, "pre_engagement_data": pre})
	}
	e.channels.add(ch)
	return ch, flow, u
}

func (e *Emulator) createFlexChannel(w http.ResponseWriter, r *http.Request) {
	ch, flow, u := e.openFlexChannel(w, r, "ChatUserFriendlyName")
	if ch == nil {
		return
	}
	var taskSID *string
	if ch.task != nil {
		taskSID = &ch.task.sid
	}
	writeJSON(w, http.StatusCreated, flexChannelJSON{
		AccountSID: e.cfg.AccountSID, FlexFlowSID: flow.sid, SID: ch.sid, UserSID: u.sid, TaskSID: taskSID,
		URL: flexAPI + "/Channels/" + ch.sid, DateCreated: timestamp(ch.created), DateUpdated: timestamp(ch.updated),
	})
}

func (e *Emulator) createFlexWebChannel(w http.ResponseWriter, r *http.Request) {
	ch, flow, _ := e.openFlexChannel(w, r, "CustomerFriendlyName")
	if ch == nil {
		return
	}
	writeJSON(w, http.StatusCreated, flexWebChannelJSON{
		AccountSID: e.cfg.AccountSID, FlexFlowSID: flow.sid, SID: ch.sid,
		URL: flexAPI + "/WebChannels/" + ch.sid, DateCreated: timestamp(ch.created), DateUpdated: timestamp(ch.updated),
	})
}

// channelOf finds the channel the request's {sid} names (its SID or unique
// name) in the Chat service of {service} and, for a customer's call, checks
// the customer is a member (see customerChat).
func (e *Emulator) channelOf(w http.ResponseWriter, r *http.Request) (*channel, bool) {
	if !pathIs(w, r, "service", e.cfg.ChatServiceSID) {
		return nil, false
	}
	return customerChat(w, r, &e.channels, "member of this channel")
}

// chatServiceJSON is the Chat service sid, the only one there is.
func (e *Emulator) chatServiceJSON(sid string) chatServiceJSON {
	self := chatAPI + "/Services/" + sid
	created := timestamp(e.created)
	return chatServiceJSON{
		SID: sid, AccountSID: e.cfg.AccountSID, FriendlyName: "Flex Chat Service",
		DateCreated: created, DateUpdated: created,
		DefaultServiceRoleSID: e.serviceRoleSID, DefaultChannelRoleSID: e.channelRoleSID, DefaultChannelCreatorRoleSID: e.channelRoleSID,
		ReadStatusEnabled: true, ReachabilityEnabled: false, TypingIndicatorTimeout: 5, ConsumptionReportInterval: 10,
		Limits:         map[string]int{"channel_members": 100, "user_channels": 250},
		PostWebhookURL: nullable(e.cfg.ChatWebhookURL), WebhookMethod: "POST",
		WebhookFilters: []string{"onChannelUpdated", "onChannelDestroyed"},
		Notifications:  map[string]any{},
		Media:          map[string]any{"size_limit_mb": 150, "compatibility_message": "Media messages are not supported by your client"},
		URL:            self,
		Links: map[string]string{
			"channels": self + "/Channels",
			"users":    self + "/Users",
			"roles":    self + "/Roles",
			"bindings": self + "/Bindings",
		},
	}
}

// applyChannel applies an update's form to ch (see update). Flex takes the
// channel's status from its attributes: an INACTIVE one ends its task.
func (e *Emulator) applyChannel(w http.ResponseWriter, r *http.Request, ch *channel) bool {
	f := r.PostForm
	if nameTaken(&e.channels, ch, f) {
		writeError(w, http.StatusConflict, codeChannelNameTaken, "Channel with provided unique name already exists")
		return false
	}
	if v, ok := f["UniqueName"]; ok && v[0] != "" {
		ch.uniqueName = v[0]
	}
	setFromForm(f, "FriendlyName", &ch.friendlyName)
	changed := false
	if v, ok := f["Attributes"]; ok && v[0] != ch.attributes {
		ch.attributes, changed = v[0], true
	}
	ch.updated = e.now()
	if !channelActive(ch) {
		e.endTask(ch.task)
	}
	if changed && webhooksEnabled(r) {
		e.sendChannelWebhook("onChannelUpdated", ch)
	}
	return true
}

// channelRemoved sends onChannelDestroyed; e.mu must be held.
func (e *Emulator) channelRemoved(ch *channel) { e.sendChannelWebhook("onChannelDestroyed", ch) }

// channelActive reports whether Flex considers ch open.
func channelActive(ch *channel) bool {
	var attrs struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal([]byte(ch.attributes), &attrs)
	return !strings.EqualFold(attrs.Status, "INACTIVE")
}

// closeChannel does what Flex's channel janitor does when a chat's task is
// done: the channel's status becomes INACTIVE. e.mu must be held.
func (e *Emulator) closeChannel(ch *channel, notify bool) {
	attrs := map[string]any{}
	_ = json.Unmarshal([]byte(ch.attributes), &attrs)
	attrs["status"] = "INACTIVE"
	raw, _ := json.Marshal(attrs)
	ch.attributes = string(raw)
	ch.updated = e.now()
	e.endTask(ch.task)
	if notify {
		e.sendChannelWebhook("onChannelUpdated", ch)
	}
}

// chatUserOf finds the Chat user the request's {sid} names, by SID or
// identity, in the Chat service of {service}.
func (e *Emulator) chatUserOf(w http.ResponseWriter, r *http.Request) (*user, bool) {
	if !pathIs(w, r, "service", e.cfg.ChatServiceSID) {
		return nil, false
	}
	return lookup(w, r, &e.chatUsers, r.PathValue("sid"))
}

func (e *Emulator) listUserChannels(w http.ResponseWriter, r *http.Request) {
	listIn(w, r, e.chatUserOf, func(p page, u *user) {
		writePage(w, p, "channels", e.chatUserURL(u.sid)+"/Channels", nil, memberships(&e.channels, u.identity), func(x membership[*channel]) userChannelJSON {
			return e.userChannelJSON(u, x)
		})
	})
}
