package emulator

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// What Conversations and Programmable Chat share: the same Flex chat, served
// as a conversation with participants or as a channel with members. The
// handlers here are written once for both; each API passes what tells them
// apart (how its chat is found, its URLs, its JSON).

// chatLike is a conversation or a channel: a chat as one of the two APIs
// serves it.
type chatLike interface {
	keyed
	base() *chat
}

// member returns the member of c with identity; nil when there is none.
func (c *chat) member(identity string) *member {
	for _, m := range c.members {
		if m.identity == identity {
			return m
		}
	}
	return nil
}

// join makes identity a member of c, with attributes and the service's
// default channel role, unless it is one already. e.mu must be held.
func (e *Emulator) join(c *chat, identity, attributes string, now time.Time) {
	if c.member(identity) == nil {
		c.members = append(c.members, &member{sid: newSID("MB"), identity: identity, attributes: attributes,
			roleSID: e.channelRoleSID, created: now, updated: now})
	}
}

// addMessage appends a message to c; e.mu must be held.
func (e *Emulator) addMessage(c *chat, author, body, attrs string) *message {
	now := e.now()
	m := &message{sid: newSID("IM"), index: c.nextIndex, author: author, body: body, attributes: attrs,
		created: now, updated: now}
	if mb := c.member(author); mb != nil {
		m.participantSID = mb.sid
	}
	c.nextIndex++
	c.messages = append(c.messages, m)
	c.updated = now
	return m
}

// userFor returns the user of users with identity, making one (called
// friendlyName) when there is none yet, as Flex does for a new chat's
// customer. e.mu must be held.
func (e *Emulator) userFor(users *table[*user], identity, friendlyName string, now time.Time) *user {
	if u := users.named(identity); u != nil {
		return u
	}
	u := &user{sid: newSID("US"), identity: identity, friendlyName: friendlyName, attributes: "{}",
		roleSID: e.serviceRoleSID, created: now, updated: now}
	users.add(u)
	return u
}

// customerChat finds the chat of chats that the request's {sid} names and,
// for a customer's call, checks the customer is a member of it: when not,
// it answers 403 "User … is not a " + notMember. It answers 404 when there
// is no such chat.
func customerChat[C chatLike](w http.ResponseWriter, r *http.Request, chats *table[C], notMember string) (C, bool) {
	c, ok := lookup(w, r, chats, r.PathValue("sid"))
	if !ok {
		return c, false
	}
	if identity, ok := customerOf(r); ok && c.base().member(identity) == nil {
		writeError(w, http.StatusForbidden, codeForbidden, "User "+identity+" is not a "+notMember)
		var none C
		return none, false
	}
	return c, true
}

// membership is a member of a chat, with the chat: a Conversations
// participant, a Programmable Chat member.
type membership[C chatLike] struct {
	chat   C
	member *member
}

// memberships returns, oldest first, the chats of chats identity is a member
// of.
func memberships[C chatLike](chats *table[C], identity string) []membership[C] {
	var out []membership[C]
	for _, c := range chats.all() {
		if m := c.base().member(identity); m != nil {
			out = append(out, membership[C]{c, m})
		}
	}
	return out
}

// attributesValid checks the Attributes a form sets, if any, are JSON; when
// not, it answers 400.
func attributesValid(w http.ResponseWriter, form url.Values) bool {
	if v, ok := form["Attributes"]; ok && !json.Valid([]byte(v[0])) {
		writeError(w, http.StatusBadRequest, codeInvalidAttributes, "Attributes must be valid JSON")
		return false
	}
	return true
}

// nameTaken reports whether form renames c (UniqueName) to a name that
// already finds another chat of chats, by its SID or its unique name.
func nameTaken[C chatLike](chats *table[C], c C, form url.Values) bool {
	v, ok := form["UniqueName"]
	if !ok || v[0] == "" || v[0] == c.base().uniqueName {
		return false
	}
	other := chats.get(v[0])
	var none C
	return other != none && other != c
}

// listMembers serves the list of the members of the chat find finds, under
// key at urlOf(chat SID) + path, each as item makes it.
func listMembers[C chatLike, J any](find finder[C], urlOf func(sid string) string, key, path string, item func(membership[C]) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		listIn(w, r, find, func(p page, c C) {
			writePage(w, p, key, urlOf(c.base().sid)+path, nil, c.base().members, func(m *member) J { return item(membership[C]{c, m}) })
		})
	}
}

// listMessages serves the list of the messages of the chat find finds, at
// urlOf(chat SID) + "/Messages", each as item makes it: oldest first or,
// with Order=desc, newest first. A bad Order is answered 400 before
// anything else is checked.
func listMessages[C chatLike, J any](find finder[C], urlOf func(sid string) string, item func(C, *message) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		order, ok := queryParam(w, r.URL.Query(), "Order", messageOrders)
		if !ok {
			return
		}
		listIn(w, r, find, func(p page, c C) {
			all, filters := inOrder(c.base().messages, order == "desc")
			writePage(w, p, "messages", urlOf(c.base().sid)+"/Messages", filters, all, func(m *message) J { return item(c, m) })
		})
	}
}

// postMessage serves a new message in the chat find finds, from the form
// (see messageForm; authorField names the author), answered 201 as item
// makes it.
func postMessage[C chatLike, J any](e *Emulator, authorField string, find finder[C], item func(C, *message) J) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		author, body, attrs, ok := messageForm(w, r, authorField)
		if !ok {
			return
		}
		if c, ok := find(w, r); ok {
			m := e.addMessage(c.base(), author, body, attrs)
			if conv, isConversation := any(c).(*conversation); isConversation {
				conv.timers.arm(e.now()) // a message restarts the timers
				if conv.state == "inactive" {
					e.setConversationState(conv, "active", "MESSAGE", true)
				}
				e.conversationMessageAdded(conv, m)
			}
			writeJSON(w, http.StatusCreated, item(c, m))
		}
	}
}

// messageForm reads a new message's form: Body (required), Attributes (JSON,
// default {}) and its author from authorField ("system" by default, as at
// Twilio; a customer writes as themself). On a bad form it has answered 400.
func messageForm(w http.ResponseWriter, r *http.Request, authorField string) (author, body, attrs string, ok bool) {
	_ = r.ParseForm()
	f := r.PostForm
	if body = f.Get("Body"); body == "" {
		missing(w, "Body")
		return "", "", "", false
	}
	if !attributesValid(w, f) {
		return "", "", "", false
	}
	attrs = "{}"
	if v, ok := f["Attributes"]; ok {
		attrs = v[0]
	}
	if author = f.Get(authorField); author == "" {
		author = "system"
	}
	if identity, ok := customerOf(r); ok {
		author = identity
	}
	return author, body, attrs, true
}

// deleteChat serves the deletion of the chat find finds: it leaves chats,
// its task ends, removed tells the webhook when the call asks for webhooks,
// and the answer is 204.
func deleteChat[C chatLike](e *Emulator, chats *table[C], find finder[C], removed func(C)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := find(w, r)
		if !ok {
			return
		}
		chats.remove(c)
		e.endTask(c.base().task)
		if webhooksEnabled(r) {
			removed(c)
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
