package emulator

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The agent view: what a Flex agent would be offered, with the verification
// summary as the agent sees it, and a box to reply. Server-rendered, no
// script, no external assets. It is not Twilio's API: it is not recorded and
// needs no credentials (the emulator only runs in development); its forms
// refuse cross-site posts.

// ErrNoChat is returned by Reply and CloseChat for an unknown chat.
var ErrNoChat = errors.New("emulator: no such conversation or channel")

// Reply posts body in chat sid (a conversation or a channel) as the agent,
// who joins the chat and takes its task, as when an agent accepts a Flex
// task and answers.
func (e *Emulator) Reply(sid, body string) error {
	if strings.TrimSpace(body) == "" {
		return errors.New("emulator: empty reply")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var c *chat
	if conv := e.conversations.withSID(sid); conv != nil {
		if conv.state == "closed" {
			return errors.New("emulator: the conversation is closed")
		}
		c = &conv.chat
	} else if ch := e.channels.withSID(sid); ch != nil {
		if !channelActive(ch) {
			return errors.New("emulator: the channel is inactive")
		}
		c = &ch.chat
	} else {
		return ErrNoChat
	}
	agent := e.cfg.AgentIdentity
	e.join(c, agent, `{"member_type":"agent"}`, e.now())
	e.addMessage(c, agent, body, "{}")
	e.assignTask(c.task)
	return nil
}

// CloseChat ends chat sid as an agent completing its task does: a
// conversation is closed, a Flex channel marked INACTIVE, the task ended,
// and the configured webhook told (onConversationStateUpdated, or
// onChannelUpdated), as Flex does.
func (e *Emulator) CloseChat(sid string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.conversations.withSID(sid); c != nil {
		if c.state != "closed" {
			e.setConversationState(c, "closed", "API", true)
		}
		return nil
	}
	if ch := e.channels.withSID(sid); ch != nil {
		if channelActive(ch) {
			e.closeChannel(ch, true)
		}
		return nil
	}
	return ErrNoChat
}

type agentPage struct {
	Chats     []agentChat
	Agent     string
	Addresses []agentAddress
}

// agentAddress is a web chat address and the Studio flow its chats run.
type agentAddress struct {
	SID, Flow, FlowSID string
	Revision           int
}

type agentChat struct {
	Kind         string // conversation | channel
	SID          string
	Customer     string
	FriendlyName string
	State        string
	Open         bool
	TaskSID      string
	TaskStatus   string
	TaskQueue    string
	Waiting      bool   // a web chat whose customer has not written yet: no task
	FlowError    string // why the address's Studio flow did not make the task
	Created      time.Time
	Verification *agentSummary
	Messages     []agentMessage
}

// agentSummary is the verification summary as an agent sees it: only these
// fields are ever shown, whatever else the attributes hold.
type agentSummary struct {
	Verified       bool
	Issuer         string
	CredentialType string
	Assurance      string
	VerifiedAt     string
	Claims         []agentClaim
}

type agentClaim struct{ Name, Value string }

type agentMessage struct {
	Author    string
	FromAgent bool
	Body      string
	Time      time.Time
}

func (e *Emulator) serveAgent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	switch {
	case r.URL.Path == AgentPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		e.renderAgent(w)
	case r.URL.Path == AgentPath+"/reply" && r.Method == http.MethodPost,
		r.URL.Path == AgentPath+"/close" && r.Method == http.MethodPost:
		if !sameOrigin(r) {
			http.Error(w, "cross-site form posts are refused", http.StatusForbidden)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "unreadable form", http.StatusBadRequest)
			return
		}
		sid := r.PostForm.Get("chat")
		var err error
		if strings.HasSuffix(r.URL.Path, "/reply") {
			err = e.Reply(sid, r.PostForm.Get("body"))
		} else {
			err = e.CloseChat(sid)
		}
		switch {
		case errors.Is(err, ErrNoChat):
			http.Error(w, "no such chat", http.StatusNotFound)
		case err != nil:
			http.Error(w, strings.TrimPrefix(err.Error(), "emulator: "), http.StatusBadRequest)
		default:
			http.Redirect(w, r, AgentPath+"#"+url.PathEscape(sid), http.StatusSeeOther)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// sameOrigin refuses what a browser says came from another site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func (e *Emulator) renderAgent(w http.ResponseWriter) {
	page := e.agentChats()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := agentTemplate.Execute(w, page); err != nil {
		http.Error(w, "rendering failed", http.StatusInternalServerError)
	}
}

// agentChats collects the chats, newest first.
func (e *Emulator) agentChats() agentPage {
	e.mu.Lock()
	defer e.mu.Unlock()
	page := agentPage{Agent: e.cfg.AgentIdentity}
	for _, a := range e.addresses.all() {
		if a.typ != "chat" {
			continue
		}
		out := agentAddress{SID: a.sid, Flow: "Flex's default Webchat Flow (no Studio flow configured)"}
		if fl := e.studioFlows.withSID(a.autoStudioFlowSID); fl != nil && a.autoEnabled && a.autoType == "studio" {
			out.Flow, out.FlowSID, out.Revision = fl.friendlyName, fl.sid, fl.revision
		}
		page.Addresses = append(page.Addresses, out)
	}
	for _, c := range e.conversations.all() {
		firstMember := ""
		if len(c.members) > 0 {
			firstMember = c.members[0].identity
		}
		ac := e.agentChat("conversation", &c.chat, c.state, c.state != "closed", firstMember)
		ac.Waiting, ac.FlowError = c.task == nil && c.customer != "", c.flowError
		page.Chats = append(page.Chats, ac)
	}
	for _, ch := range e.channels.all() {
		state := "active"
		if !channelActive(ch) {
			state = "inactive"
		}
		page.Chats = append(page.Chats, e.agentChat("channel", &ch.chat, state, state == "active", ""))
	}
	sort.SliceStable(page.Chats, func(i, j int) bool { return page.Chats[i].Created.After(page.Chats[j].Created) })
	return page
}

// agentChat is c as the agent view shows it: only what its task and its
// attributes carry, as Flex shows it. The customer is the task's "name",
// else the "from" of the chat's attributes, else fallback; the
// verification is the task's (see summaryOf).
func (e *Emulator) agentChat(kind string, c *chat, state string, open bool, fallback string) agentChat {
	var taskAttrs map[string]any
	if c.task != nil {
		taskAttrs = decodeAttrs(c.task.attributes)
	}
	customer := stringAttr(taskAttrs, "name")
	if customer == "" {
		customer = stringAttr(decodeAttrs(c.attributes), "from")
	}
	if customer == "" {
		customer = fallback
	}
	out := agentChat{Kind: kind, SID: c.sid, Customer: customer, FriendlyName: c.friendlyName,
		State: state, Open: open, Created: c.created}
	if c.task != nil {
		out.TaskSID, out.TaskStatus = c.task.sid, c.task.status
		if q := e.queues.withSID(c.task.queueSID); q != nil {
			out.TaskQueue = q.friendlyName
		}
		out.Verification = summaryOf(taskAttrs, kind == "channel")
	}
	for _, m := range c.messages {
		out.Messages = append(out.Messages, e.agentMessage(m, customer))
	}
	return out
}

func (e *Emulator) agentMessage(m *message, customer string) agentMessage {
	out := agentMessage{Author: m.author, Body: m.body, Time: m.created}
	switch {
	case m.author == e.cfg.AgentIdentity:
		out.Author, out.FromAgent = "You (agent)", true
	case customer != "" && m.author != "system":
		out.Author = customer
	}
	return out
}

func decodeAttrs(raw string) map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(raw), &m)
	return m
}

func stringAttr(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// summaryOf finds the verification summary an agent sees in a task's
// attributes: its "verification" attribute or, for a legacy Flex Flow's task
// (legacy), the pre-engagement data the Flex Flow copied into it.
func summaryOf(taskAttrs map[string]any, legacy bool) *agentSummary {
	v, ok := taskAttrs["verification"].(map[string]any)
	if !ok && legacy {
		v, ok = taskAttrs["pre_engagement_data"].(map[string]any)
		if ok && v["verified"] == nil {
			ok = false
		}
	}
	if !ok {
		return nil
	}
	s := &agentSummary{
		Issuer:         stringAttr(v, "issuer"),
		CredentialType: stringAttr(v, "credential_type"),
		Assurance:      stringAttr(v, "assurance"),
		VerifiedAt:     stringAttr(v, "verified_at"),
	}
	if s.CredentialType == "" {
		s.CredentialType = stringAttr(v, "credential")
	}
	s.Verified, _ = v["verified"].(bool)
	if claims, ok := v["claims"].(map[string]any); ok {
		for name, val := range claims {
			text, isString := val.(string)
			if !isString {
				b, _ := json.Marshal(val)
				text = string(b)
			}
			s.Claims = append(s.Claims, agentClaim{Name: name, Value: text})
		}
		sort.Slice(s.Claims, func(i, j int) bool { return s.Claims[i].Name < s.Claims[j].Name })
	}
	return s
}

var agentTemplate = template.Must(template.New("agent").Funcs(template.FuncMap{
	"iso":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05 UTC") },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Agent view · Twilio emulator</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1a1a1a;background:#f4f5f7}
header,main{max-width:52rem;margin:0 auto;padding:1rem}
header p{margin:.25rem 0}
.chat{background:#fff;border:1px solid #c9ccd1;border-radius:.5rem;padding:1rem;margin:0 0 1rem}
.chat h2{margin:0 0 .25rem;font-size:1.25rem}
.meta,.status{color:#4a4f57;font-size:.9rem}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:1rem;font-weight:600}
.verified{background:#dff3e4;color:#0b5a23;border:1px solid #0b5a23}
.unverified{background:#fde8e8;color:#8a1111;border:1px solid #8a1111}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.5rem 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
h3{font-size:1rem;margin:1rem 0 .25rem}
ol.messages{list-style:none;padding:0;margin:0}
ol.messages li{padding:.4rem .6rem;margin:.25rem 0;border-radius:.4rem;background:#eef0f3}
ol.messages li.agent{background:#e3ecfb}
.author{font-weight:600}
textarea{width:100%;box-sizing:border-box;font:inherit}
label{display:block;font-weight:600;margin-top:.75rem}
button{font:inherit;padding:.3rem .9rem;margin-top:.4rem}
:focus-visible{outline:3px solid #1749b3;outline-offset:2px}
.actions{display:flex;gap:1rem;align-items:flex-end;flex-wrap:wrap}
</style>
</head>
<body>
<header>
<h1>Agent view</h1>
<p>The chats a Flex agent would be offered, and what the agent is told about each customer.
Served by the built-in Twilio emulator, for development only: you are signed in as <strong>{{.Agent}}</strong>.</p>
{{- range .Addresses}}
<p>Web chat address <code>{{.SID}}</code> runs {{if .FlowSID}}the Studio flow “{{.Flow}}” (<code>{{.FlowSID}}</code>, revision {{.Revision}}){{else}}{{.Flow}}{{end}} on a customer's first message.</p>
{{- end}}
<p><a href="">Refresh</a></p>
</header>
<main>
{{- if not .Chats}}
<p>No chats yet. A verified customer's chat appears here once it is opened.</p>
{{- end}}
{{- range .Chats}}
<section class="chat" id="{{.SID}}" aria-labelledby="title-{{.SID}}">
<h2 id="title-{{.SID}}">{{if .Customer}}{{.Customer}}{{else}}Unknown customer{{end}}</h2>
<p class="meta">{{.FriendlyName}}</p>
<p class="status">Chat {{.State}}{{if .TaskSID}} · task {{.TaskStatus}}{{with .TaskQueue}} in queue “{{.}}”{{end}}{{end}} · {{.Kind}} <code>{{.SID}}</code> · opened <time datetime="{{iso .Created}}">{{clock .Created}}</time></p>
{{- with .FlowError}}
<p class="status"><strong>The address's Studio flow did not create the task:</strong> {{.}}</p>
{{- end}}
<h3>Identity</h3>
{{- if .Waiting}}
<p>No task yet: waiting for the customer's first message, which runs the address's Studio flow.</p>
{{- else}}
{{- with .Verification}}
<p>{{if .Verified}}<span class="badge verified">&#10003; Verified customer</span>{{else}}<span class="badge unverified">Not verified</span>{{end}}</p>
<dl>
{{- if .Issuer}}<dt>Issuer</dt><dd>{{.Issuer}}</dd>{{end}}
{{- if .CredentialType}}<dt>Credential</dt><dd>{{.CredentialType}}</dd>{{end}}
{{- if .Assurance}}<dt>Assurance</dt><dd>{{.Assurance}}</dd>{{end}}
{{- if .VerifiedAt}}<dt>Verified at</dt><dd>{{.VerifiedAt}}</dd>{{end}}
</dl>
<h4>Shown claims</h4>
{{- if .Claims}}
<dl>
{{- range .Claims}}<dt>{{.Name}}</dt><dd>{{.Value}}</dd>{{end}}
</dl>
{{- else}}
<p>No claims are shown for this customer.</p>
{{- end}}
{{- else}}
<p><span class="badge unverified">Not verified</span> No verification summary came with this chat's task.</p>
{{- end}}
{{- end}}
<h3>Messages</h3>
{{- if .Messages}}
<ol class="messages">
{{- range .Messages}}
<li{{if .FromAgent}} class="agent"{{end}}><span class="author">{{.Author}}</span> <time datetime="{{iso .Time}}">{{clock .Time}}</time><br>{{.Body}}</li>
{{- end}}
</ol>
{{- else}}
<p>No messages yet.</p>
{{- end}}
{{- if .Open}}
<div class="actions">
<form method="post" action="/_twilio/agent/reply">
<input type="hidden" name="chat" value="{{.SID}}">
<label for="reply-{{.SID}}">Reply to {{if .Customer}}{{.Customer}}{{else}}the customer{{end}}</label>
<textarea id="reply-{{.SID}}" name="body" rows="2" required></textarea>
<button type="submit">Send reply</button>
</form>
<form method="post" action="/_twilio/agent/close">
<input type="hidden" name="chat" value="{{.SID}}">
<button type="submit">Close chat</button>
</form>
</div>
{{- else}}
<p>This chat is over.</p>
{{- end}}
</section>
{{- end}}
</main>
</body>
</html>
`))
