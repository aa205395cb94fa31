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

// flow finds a Flex Flow by SID; e.mu must be held.
func (e *Emulator) flow(sid string) *flexFlow {
	for _, f := range e.flows {
		if f.sid == sid {
			return f
		}
	}
	return nil
}

func (e *Emulator) listFlexFlows(w http.ResponseWriter, r *http.Request) {
	name, filters, p, ok := filteredPage(w, r.URL.Query(), "FriendlyName", nil, maxPageSize)
	if !ok {
		return
	}
	var all []*flexFlow
	for _, f := range e.flows {
		if matches(name, f.friendlyName) {
			all = append(all, f)
		}
	}
	writePage(w, p, "flex_flows", flexAPI+"/FlexFlows", filters, all, func(f *flexFlow) flexFlowJSON { return e.flexFlowJSON(f) })
}

func (e *Emulator) fetchFlexFlow(w http.ResponseWriter, r *http.Request) {
	f := e.flow(r.PathValue("sid"))
	if f == nil {
		notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, e.flexFlowJSON(f))
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
	if v, ok := form["FriendlyName"]; ok {
		g.friendlyName = v[0]
	}
	if v, ok := form["ChannelType"]; ok {
		g.channelType = v[0]
	}
	if v, ok := form["IntegrationType"]; ok {
		g.integrationType = v[0]
	}
	if v, ok := form["ChatServiceSid"]; ok {
		g.chatServiceSID = v[0]
	}
	if v, ok := form["ContactIdentity"]; ok {
		g.contactIdentity = v[0]
	}
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
	e.flows = append(e.flows, f)
	writeJSON(w, http.StatusCreated, e.flexFlowJSON(f))
}

func (e *Emulator) updateFlexFlow(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := e.flow(r.PathValue("sid"))
	if f == nil {
		notFound(w, r)
		return
	}
	if !applyFlow(w, f, r.PostForm) {
		return
	}
	f.updated = e.now()
	writeJSON(w, http.StatusOK, e.flexFlowJSON(f))
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

	flow := e.flow(form.Get("FlexFlowSid"))
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
	case uniqueName != "" && e.channel(uniqueName) != nil:
		writeError(w, http.StatusConflict, codeChannelNameTaken, "Channel with provided unique name already exists")
		return nil, nil, nil
	}
	now := e.now()
	u := e.chatUsersByID[identity]
	if u == nil {
		u = &user{sid: newSID("US"), identity: identity, friendlyName: customer, attributes: "{}",
			roleSID: e.serviceRoleSID, created: now, updated: now}
		e.chatUsers[u.sid] = u
		e.chatUsersByID[identity] = u
	}
	attrs, _ := json.Marshal(map[string]any{"status": "ACTIVE", "long_lived": flow.longLived, "from": customer,
		"channel_type": flow.channelType, "pre_engagement_data": pre})
	ch := &channel{sid: newSID("CH"), uniqueName: uniqueName, friendlyName: form.Get("ChatFriendlyName"),
		attributes: string(attrs), createdBy: "system", created: now, updated: now, flowSID: flow.sid}
	ch.members = append(ch.members, &member{sid: newSID("MB"), identity: identity, attributes: "{}",
		roleSID: e.channelRoleSID, created: now, updated: now})
	if flow.integrationType == "task" {
		ch.task = e.newTask(map[string]any{"channelSid": ch.sid, "channelType": flow.channelType, "name": customer,
			"from": identity, "pre_engagement_data": pre})
	}
	e.channels[ch.sid] = ch
	e.chanOrder = append(e.chanOrder, ch)
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

// channel finds a Chat channel by SID or unique name; e.mu must be held.
func (e *Emulator) channel(sidOrName string) *channel {
	if ch := e.channels[sidOrName]; ch != nil {
		return ch
	}
	for _, ch := range e.chanOrder {
		if ch.uniqueName != "" && ch.uniqueName == sidOrName {
			return ch
		}
	}
	return nil
}

func (ch *channel) member(identity string) *member {
	for _, m := range ch.members {
		if m.identity == identity {
			return m
		}
	}
	return nil
}

// chatService checks the request's {service} is the Chat service; it writes
// a 404 and returns false otherwise.
func (e *Emulator) chatService(w http.ResponseWriter, r *http.Request) bool {
	if r.PathValue("service") != e.cfg.ChatServiceSID {
		notFound(w, r)
		return false
	}
	return true
}

// customerChannel finds the request's {sid} channel and, for a customer's
// call, checks the customer is a member. e.mu must be held.
func (e *Emulator) customerChannel(w http.ResponseWriter, r *http.Request) *channel {
	if !e.chatService(w, r) {
		return nil
	}
	ch := e.channel(r.PathValue("sid"))
	if ch == nil {
		notFound(w, r)
		return nil
	}
	if identity, ok := customerOf(r); ok && ch.member(identity) == nil {
		writeError(w, http.StatusForbidden, codeForbidden, "User "+identity+" is not a member of this channel")
		return nil
	}
	return ch
}

func (e *Emulator) fetchChatService(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	if sid != e.cfg.ChatServiceSID {
		notFound(w, r)
		return
	}
	self := chatAPI + "/Services/" + sid
	created := timestamp(e.created)
	hook := e.cfg.ChatWebhookURL
	writeJSON(w, http.StatusOK, chatServiceJSON{
		SID: sid, AccountSID: e.cfg.AccountSID, FriendlyName: "Flex Chat Service",
		DateCreated: created, DateUpdated: created,
		DefaultServiceRoleSID: e.serviceRoleSID, DefaultChannelRoleSID: e.channelRoleSID, DefaultChannelCreatorRoleSID: e.channelRoleSID,
		ReadStatusEnabled: true, ReachabilityEnabled: false, TypingIndicatorTimeout: 5, ConsumptionReportInterval: 10,
		Limits:         map[string]int{"channel_members": 100, "user_channels": 250},
		PostWebhookURL: nullable(hook), WebhookMethod: "POST",
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
	})
}

func (e *Emulator) fetchChannel(w http.ResponseWriter, r *http.Request) {
	if ch := e.customerChannel(w, r); ch != nil {
		writeJSON(w, http.StatusOK, e.chatChannelJSON(ch))
	}
}

func (e *Emulator) updateChannel(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	if v, ok := f["Attributes"]; ok && !json.Valid([]byte(v[0])) {
		writeError(w, http.StatusBadRequest, codeInvalidAttributes, "Attributes must be valid JSON")
		return
	}
	ch := e.customerChannel(w, r)
	if ch == nil {
		return
	}
	if v, ok := f["UniqueName"]; ok && v[0] != "" && v[0] != ch.uniqueName {
		if other := e.channel(v[0]); other != nil && other != ch {
			writeError(w, http.StatusConflict, codeChannelNameTaken, "Channel with provided unique name already exists")
			return
		}
		ch.uniqueName = v[0]
	}
	if v, ok := f["FriendlyName"]; ok {
		ch.friendlyName = v[0]
	}
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
	writeJSON(w, http.StatusOK, e.chatChannelJSON(ch))
}

func (e *Emulator) deleteChannel(w http.ResponseWriter, r *http.Request) {
	ch := e.customerChannel(w, r)
	if ch == nil {
		return
	}
	delete(e.channels, ch.sid)
	for i, x := range e.chanOrder {
		if x == ch {
			e.chanOrder = append(e.chanOrder[:i:i], e.chanOrder[i+1:]...)
			break
		}
	}
	e.endTask(ch.task)
	if webhooksEnabled(r) {
		e.sendChannelWebhook("onChannelDestroyed", ch)
	}
	w.WriteHeader(http.StatusNoContent)
}

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

func (e *Emulator) listMembers(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r.URL.Query(), maxPageSize)
	if !ok {
		return
	}
	ch := e.customerChannel(w, r)
	if ch == nil {
		return
	}
	writePage(w, p, "members", chatChannelURL(e.cfg.ChatServiceSID, ch.sid)+"/Members", nil, ch.members, func(m *member) chatMemberJSON { return e.chatMemberJSON(ch, m) })
}

func (e *Emulator) listChatMessages(w http.ResponseWriter, r *http.Request) {
	desc, p, ok := messagePage(w, r.URL.Query())
	if !ok {
		return
	}
	ch := e.customerChannel(w, r)
	if ch == nil {
		return
	}
	all, filters := inOrder(ch.messages, desc)
	writePage(w, p, "messages", chatChannelURL(e.cfg.ChatServiceSID, ch.sid)+"/Messages", filters, all, func(m *message) chatMessageJSON { return e.chatMessageJSON(ch, m) })
}

func (e *Emulator) createChatMessage(w http.ResponseWriter, r *http.Request) {
	from, body, attrs, ok := messageForm(w, r, "From")
	if !ok {
		return
	}
	ch := e.customerChannel(w, r)
	if ch == nil {
		return
	}
	m := e.addChatMessage(ch, from, body, attrs)
	writeJSON(w, http.StatusCreated, e.chatMessageJSON(ch, m))
}

// addChatMessage appends a message to ch; e.mu must be held.
func (e *Emulator) addChatMessage(ch *channel, from, body, attrs string) *message {
	now := e.now()
	m := &message{sid: newSID("IM"), index: ch.nextIndex, author: from, body: body, attributes: attrs, created: now, updated: now}
	ch.nextIndex++
	ch.messages = append(ch.messages, m)
	ch.updated = now
	return m
}

// chatUser finds the request's {sid} Chat user by SID or identity; e.mu
// must be held.
func (e *Emulator) chatUser(w http.ResponseWriter, r *http.Request) *user {
	if !e.chatService(w, r) {
		return nil
	}
	key := r.PathValue("sid")
	u := e.chatUsers[key]
	if u == nil {
		u = e.chatUsersByID[key]
	}
	if u == nil {
		notFound(w, r)
	}
	return u
}

func (e *Emulator) fetchChatUser(w http.ResponseWriter, r *http.Request) {
	if u := e.chatUser(w, r); u != nil {
		writeJSON(w, http.StatusOK, e.chatUserJSON(u))
	}
}

func (e *Emulator) listUserChannels(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r.URL.Query(), maxPageSize)
	if !ok {
		return
	}
	u := e.chatUser(w, r)
	if u == nil {
		return
	}
	type pair struct {
		ch *channel
		m  *member
	}
	var all []pair
	for _, ch := range e.chanOrder {
		if m := ch.member(u.identity); m != nil {
			all = append(all, pair{ch, m})
		}
	}
	self := chatAPI + "/Services/" + e.cfg.ChatServiceSID + "/Users/" + u.sid
	writePage(w, p, "channels", self+"/Channels", nil, all, func(x pair) userChannelJSON { return e.userChannelJSON(u, x.ch, x.m) })
}
