package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Studio v2 Flows (studio.twilio.com) and the Conversations address
// configuration (/v1/Configuration/Addresses) that names the Studio flow a
// web chat runs: what `hearro flex setup` configures, and what decides the
// task an agent gets (see studioflow.go).

const studioAPI = "https://studio.twilio.com/v2"

// DefaultWebchatFlowName is the Studio flow a new Flex account's web chat
// address runs.
const DefaultWebchatFlowName = "Webchat Flow"

// DefaultWebchatFlowAttributes is the Send to Flex attributes of Flex's
// default "Webchat Flow" for Conversations: "the default Chat address's
// Studio flow adds the following attribute" (Twilio, Send to Flex widget,
// https://www.twilio.com/docs/studio/widget-library/send-flex). Send to Flex
// itself adds channelType, customerAddress, from, name and customerName
// (see flexTaskAttributes).
const DefaultWebchatFlowAttributes = `{"from": "{{trigger.conversation.ChannelAttributes.pre_engagement_data.friendlyName}}"}`

// defaultWebchatFlow is the definition of Flex's default "Webchat Flow":
// an incoming conversation message goes to Flex.
func defaultWebchatFlow(workflowSID, channelSID string) string {
	def := map[string]any{
		"description":   "Webchat Flow",
		"initial_state": "Trigger",
		"flags":         map[string]any{"allow_concurrent_calls": true},
		"states": []any{
			map[string]any{"name": "Trigger", "type": "trigger", "properties": map[string]any{"offset": map[string]any{"x": 0, "y": 0}},
				"transitions": []any{
					map[string]any{"event": "incomingMessage"},
					map[string]any{"event": "incomingCall"},
					map[string]any{"event": "incomingConversationMessage", "next": "SendToFlexAgent"},
					map[string]any{"event": "incomingRequest"},
					map[string]any{"event": "incomingParent"},
				}},
			map[string]any{"name": "SendToFlexAgent", "type": "send-to-flex",
				"properties": map[string]any{"offset": map[string]any{"x": 0, "y": 240}, "workflow": workflowSID, "channel": channelSID,
					"attributes": DefaultWebchatFlowAttributes},
				"transitions": []any{
					map[string]any{"event": "callComplete"},
					map[string]any{"event": "failedToEnqueue"},
					map[string]any{"event": "callFailure"},
				}},
		},
	}
	b, _ := json.Marshal(def)
	return string(b)
}

type studioFlow struct {
	sid           string
	friendlyName  string
	definition    string // JSON
	status        string // draft | published
	revision      int
	commitMessage string
	created       time.Time
	updated       time.Time
}

func (f *studioFlow) keys() (string, string) { return f.sid, "" }

// address is a Conversations address configuration.
type address struct {
	sid, typ, address, friendlyName string
	autoEnabled                     bool
	autoType                        string // webhook | studio | default
	autoServiceSID                  string
	autoWebhookURL                  string
	autoWebhookMethod               string
	autoWebhookFilters              []string
	autoStudioFlowSID               string
	autoStudioRetryCount            int
	created, updated                time.Time
}

func (a *address) keys() (string, string) { return a.sid, "" }

type studioFlowJSON struct {
	SID           string            `json:"sid"`
	AccountSID    string            `json:"account_sid"`
	AuthorSID     *string           `json:"author_sid"`
	FriendlyName  string            `json:"friendly_name"`
	Definition    json.RawMessage   `json:"definition"`
	Status        string            `json:"status"`
	Revision      int               `json:"revision"`
	CommitMessage *string           `json:"commit_message"`
	Valid         bool              `json:"valid"`
	Errors        []any             `json:"errors"`
	Warnings      []any             `json:"warnings"`
	DateCreated   string            `json:"date_created"`
	DateUpdated   *string           `json:"date_updated"`
	WebhookURL    string            `json:"webhook_url"`
	URL           string            `json:"url"`
	Links         map[string]string `json:"links"`
}

func (e *Emulator) studioFlowJSON(f *studioFlow) studioFlowJSON {
	u := studioAPI + "/Flows/" + f.sid
	updated := timestamp(f.updated)
	return studioFlowJSON{
		SID: f.sid, AccountSID: e.cfg.AccountSID, FriendlyName: f.friendlyName,
		Definition: json.RawMessage(f.definition), Status: f.status, Revision: f.revision,
		CommitMessage: nullable(f.commitMessage), Valid: true, Errors: []any{}, Warnings: []any{},
		DateCreated: timestamp(f.created), DateUpdated: &updated,
		WebhookURL: "https://webhooks.twilio.com/v1/Accounts/" + e.cfg.AccountSID + "/Flows/" + f.sid,
		URL:        u,
		Links: map[string]string{
			"test_users": u + "/TestUsers",
			"revisions":  u + "/Revisions",
			"executions": u + "/Executions",
		},
	}
}

var flowStatuses = map[string]bool{"draft": true, "published": true}

// flowForm checks a flow's create or update form; on a bad one it answers
// 400. Status is required on both, as at Twilio; FriendlyName and
// Definition on create.
func flowForm(w http.ResponseWriter, f url.Values, create bool) bool {
	required := []string{"Status"}
	if create {
		required = []string{"FriendlyName", "Status", "Definition"}
	}
	for _, name := range required {
		if f.Get(name) == "" {
			missing(w, name)
			return false
		}
	}
	if !flowStatuses[f.Get("Status")] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Status: "+f.Get("Status"))
		return false
	}
	if v, ok := f["Definition"]; ok {
		var def struct {
			InitialState string            `json:"initial_state"`
			States       []json.RawMessage `json:"states"`
		}
		if err := json.Unmarshal([]byte(v[0]), &def); err != nil || def.InitialState == "" || len(def.States) == 0 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Definition: a flow definition is a JSON object with initial_state and states")
			return false
		}
	}
	return true
}

func (e *Emulator) createStudioFlow(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	if !flowForm(w, f, true) {
		return
	}
	now := e.now()
	fl := &studioFlow{sid: newSID("FW"), friendlyName: f.Get("FriendlyName"), definition: compactJSON(f.Get("Definition")),
		status: f.Get("Status"), revision: 1, commitMessage: f.Get("CommitMessage"), created: now, updated: now}
	e.studioFlows.add(fl)
	writeJSON(w, http.StatusCreated, e.studioFlowJSON(fl))
}

func (e *Emulator) listStudioFlows(w http.ResponseWriter, r *http.Request) {
	if p, ok := parsePage(w, r.URL.Query(), maxPageSize); ok {
		writePage(w, p, "flows", studioAPI+"/Flows", nil, e.studioFlows.all(), e.studioFlowJSON)
	}
}

func (e *Emulator) studioFlowOf(w http.ResponseWriter, r *http.Request) (*studioFlow, bool) {
	return lookup(w, r, &e.studioFlows, r.PathValue("sid"))
}

// applyStudioFlow applies an update's form (see update): each update is a
// new revision.
func (e *Emulator) applyStudioFlow(_ http.ResponseWriter, r *http.Request, fl *studioFlow) bool {
	f := r.PostForm
	setFromForm(f, "FriendlyName", &fl.friendlyName)
	setFromForm(f, "Status", &fl.status)
	setFromForm(f, "CommitMessage", &fl.commitMessage)
	if v, ok := f["Definition"]; ok {
		fl.definition = compactJSON(v[0])
	}
	fl.revision++
	fl.updated = e.now()
	return true
}

func (e *Emulator) deleteStudioFlow(w http.ResponseWriter, r *http.Request) {
	if fl, ok := e.studioFlowOf(w, r); ok {
		e.studioFlows.remove(fl)
		w.WriteHeader(http.StatusNoContent)
	}
}

func compactJSON(s string) string {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// The address configuration.

func (e *Emulator) addressURL(sid string) string {
	return conversationsAPI + "/Configuration/Addresses/" + sid
}

// addressJSON is a's JSON, auto_creation as Twilio shows it for its type.
func (e *Emulator) addressJSON(a *address) addressJSON {
	auto := map[string]any{"enabled": a.autoEnabled, "type": a.autoType, "conversation_service_sid": a.autoServiceSID}
	switch a.autoType {
	case "webhook":
		auto["webhook_url"], auto["webhook_method"], auto["webhook_filters"] = a.autoWebhookURL, a.autoWebhookMethod, a.autoWebhookFilters
	case "studio":
		auto["studio_flow_sid"], auto["studio_retry_count"] = a.autoStudioFlowSID, a.autoStudioRetryCount
	}
	raw, _ := json.Marshal(auto)
	return addressJSON{
		SID: a.sid, AccountSID: e.cfg.AccountSID, Type: a.typ, Address: a.address, FriendlyName: a.friendlyName,
		AutoCreation: raw, DateCreated: timestamp(a.created), DateUpdated: timestamp(a.updated), URL: e.addressURL(a.sid),
	}
}

var (
	addressTypes      = map[string]bool{"sms": true, "whatsapp": true, "messenger": true, "gbm": true, "email": true, "rcs": true, "apple": true, "chat": true}
	autoCreationTypes = map[string]bool{"webhook": true, "studio": true, "default": true}
)

// addressForm checks an address's create or update form; on a bad one it
// answers 400.
func (e *Emulator) addressForm(w http.ResponseWriter, f url.Values) bool {
	if v, ok := f["Type"]; ok && !addressTypes[v[0]] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Type: "+v[0])
		return false
	}
	if v, ok := f["AutoCreation.Type"]; ok && !autoCreationTypes[v[0]] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid AutoCreation.Type: "+v[0])
		return false
	}
	if v, ok := f["AutoCreation.Enabled"]; ok && v[0] != "true" && v[0] != "false" {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid AutoCreation.Enabled: "+v[0])
		return false
	}
	if v, ok := f["AutoCreation.StudioFlowSid"]; ok && v[0] != "" && !validSID(v[0], "FW") {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid AutoCreation.StudioFlowSid: "+v[0])
		return false
	}
	if v, ok := f["AutoCreation.StudioRetryCount"]; ok {
		if n, err := strconv.Atoi(v[0]); err != nil || n < 0 || n > 3 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid AutoCreation.StudioRetryCount: "+v[0])
			return false
		}
	}
	return true
}

// applyAddress applies a form's auto-creation settings (and FriendlyName)
// to a (see update).
func (e *Emulator) applyAddress(w http.ResponseWriter, r *http.Request, a *address) bool {
	if !e.addressForm(w, r.PostForm) {
		return false
	}
	f := r.PostForm
	setFromForm(f, "FriendlyName", &a.friendlyName)
	if v, ok := f["AutoCreation.Enabled"]; ok {
		a.autoEnabled = v[0] == "true"
	}
	setFromForm(f, "AutoCreation.Type", &a.autoType)
	setFromForm(f, "AutoCreation.ConversationServiceSid", &a.autoServiceSID)
	setFromForm(f, "AutoCreation.WebhookUrl", &a.autoWebhookURL)
	setFromForm(f, "AutoCreation.WebhookMethod", &a.autoWebhookMethod)
	if v, ok := f["AutoCreation.WebhookFilters"]; ok {
		a.autoWebhookFilters = append([]string(nil), v...)
	}
	setFromForm(f, "AutoCreation.StudioFlowSid", &a.autoStudioFlowSID)
	if v, ok := f["AutoCreation.StudioRetryCount"]; ok {
		a.autoStudioRetryCount, _ = strconv.Atoi(v[0])
	}
	a.updated = e.now()
	return true
}

func (e *Emulator) addressOf(w http.ResponseWriter, r *http.Request) (*address, bool) {
	return lookup(w, r, &e.addresses, r.PathValue("sid"))
}

func (e *Emulator) listAddresses(w http.ResponseWriter, r *http.Request) {
	typ, filters, p, ok := filteredPage(w, r.URL.Query(), "Type", addressTypes, maxPageSize)
	if ok {
		all := e.addresses.where(func(a *address) bool { return matches(typ, a.typ) })
		writePage(w, p, "address_configurations", conversationsAPI+"/Configuration/Addresses", filters, all, e.addressJSON)
	}
}

func (e *Emulator) createAddress(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	for _, name := range []string{"Type", "Address"} {
		if f.Get(name) == "" {
			missing(w, name)
			return
		}
	}
	now := e.now()
	a := &address{sid: newSID("IG"), typ: f.Get("Type"), address: f.Get("Address"), autoType: "default",
		autoServiceSID: e.cfg.ConversationsServiceSID, created: now, updated: now}
	if !e.applyAddress(w, r, a) {
		return
	}
	a.created = now
	e.addresses.add(a)
	writeJSON(w, http.StatusCreated, e.addressJSON(a))
}

func (e *Emulator) deleteAddress(w http.ResponseWriter, r *http.Request) {
	if a, ok := e.addressOf(w, r); ok {
		e.addresses.remove(a)
		w.WriteHeader(http.StatusNoContent)
	}
}

// newStudio makes what a new Flex account has: the default "Webchat Flow"
// and the web chat address running it; then, when the Config gives one,
// the Studio flow the address runs instead. Called once by New.
func (e *Emulator) newStudio(now time.Time) {
	webchat := &studioFlow{sid: newSID("FW"), friendlyName: DefaultWebchatFlowName, status: "published", revision: 1,
		definition: defaultWebchatFlow(e.cfg.WorkflowSID, e.taskChannelSID), created: now, updated: now}
	e.studioFlows.add(webchat)
	a := &address{sid: e.cfg.AddressSID, typ: "chat", address: "Web Chat", friendlyName: "Flex Web Chat",
		autoEnabled: true, autoType: "studio", autoServiceSID: e.cfg.ConversationsServiceSID,
		autoStudioFlowSID: webchat.sid, autoStudioRetryCount: 3, created: now, updated: now}
	e.addresses.add(a)
	if e.cfg.StudioFlowDefinition != "" {
		name := e.cfg.StudioFlowName
		if name == "" {
			name = "Web chat flow"
		}
		fl := &studioFlow{sid: newSID("FW"), friendlyName: name, status: "published", revision: 1,
			definition: compactJSON(e.cfg.StudioFlowDefinition), created: now, updated: now}
		e.studioFlows.add(fl)
		a.autoStudioFlowSID = fl.sid
	}
}
