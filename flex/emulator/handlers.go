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
	codeInvalidParameter  = 20001 // missing or invalid parameter
	codeNotFound          = 20404 // the requested resource was not found
	codeInvalidAttributes = 50304 // attributes are not valid JSON
	codeUniqueNameTaken   = 50353 // a conversation already has this unique name
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

// createWebChat emulates POST https://flex-api.twilio.com/v2/WebChats: like
// Flex it creates the conversation, the customer's participant and, when the
// identity has none yet, the customer's Conversations user.
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
	case address != e.cfg.AddressSID:
		writeError(w, http.StatusNotFound, codeNotFound, "The requested resource /Configuration/Addresses/"+address+" was not found")
		return
	}
	var pre any = map[string]any{}
	if raw := f.Get("PreEngagementData"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &pre); err != nil {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid PreEngagementData: not valid JSON")
			return
		}
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

	e.mu.Lock()
	now := e.now()
	u := e.usersByID[identity]
	if u == nil {
		u = &user{sid: newSID("US"), identity: identity, friendlyName: customer, attributes: "{}",
			roleSID: e.serviceRoleSID, created: now, updated: now}
		e.users[u.sid] = u
		e.usersByID[identity] = u
	}
	c := &conversation{sid: newSID("CH"), friendlyName: chatName, attributes: string(convAttrs),
		state: "active", created: now, updated: now}
	c.participants = append(c.participants, &participant{sid: newSID("MB"), identity: identity,
		attributes: string(partAttrs), roleSID: e.channelRoleSID, created: now, updated: now})
	e.conversations[c.sid] = c
	e.convOrder = append(e.convOrder, c)
	e.mu.Unlock()

	writeJSON(w, http.StatusCreated, webChannelJSON{ConversationSID: c.sid, Identity: identity})
}

// conversation finds a conversation by SID or unique name; e.mu must be held.
func (e *Emulator) conversation(sidOrName string) *conversation {
	if c := e.conversations[sidOrName]; c != nil {
		return c
	}
	for _, c := range e.convOrder {
		if c.uniqueName != "" && c.uniqueName == sidOrName {
			return c
		}
	}
	return nil
}

func (e *Emulator) fetchConversation(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.conversation(r.PathValue("sid"))
	if c == nil {
		notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, e.conversationJSON(c))
}

var settableStates = map[string]bool{"active": true, "inactive": true, "closed": true}

func (e *Emulator) updateConversation(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	if v, ok := f["Attributes"]; ok && !json.Valid([]byte(v[0])) {
		writeError(w, http.StatusBadRequest, codeInvalidAttributes, "Attributes must be valid JSON")
		return
	}
	if v, ok := f["State"]; ok && !settableStates[v[0]] {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid State: "+v[0])
		return
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.conversation(r.PathValue("sid"))
	if c == nil {
		notFound(w, r)
		return
	}
	if v, ok := f["UniqueName"]; ok && v[0] != "" && v[0] != c.uniqueName {
		if other := e.conversation(v[0]); other != nil && other != c {
			writeError(w, http.StatusConflict, codeUniqueNameTaken, "Conversation with provided unique name already exists")
			return
		}
	}
	if v, ok := f["FriendlyName"]; ok {
		c.friendlyName = v[0]
	}
	if v, ok := f["UniqueName"]; ok {
		c.uniqueName = v[0]
	}
	if v, ok := f["Attributes"]; ok {
		c.attributes = v[0]
	}
	if v, ok := f["State"]; ok {
		c.state = v[0]
	}
	c.updated = e.now()
	writeJSON(w, http.StatusOK, e.conversationJSON(c))
}

func (e *Emulator) listConversations(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filters := url.Values{}
	state := q.Get("State")
	if state != "" {
		if !settableStates[state] && state != "initializing" {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid State: "+state)
			return
		}
		filters.Set("State", state)
	}
	p, ok := parsePage(w, q, 100)
	if !ok {
		return
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	var all []*conversation
	for _, c := range e.convOrder {
		if state == "" || c.state == state {
			all = append(all, c)
		}
	}
	items := []conversationJSON{}
	for _, c := range window(all, p) {
		items = append(items, e.conversationJSON(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"conversations": items,
		"meta":          p.meta("conversations", conversationsAPI+"/Conversations", filters, len(all)),
	})
}

func (e *Emulator) listParticipants(w http.ResponseWriter, r *http.Request) {
	p, ok := parsePage(w, r.URL.Query(), 100)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.conversation(r.PathValue("sid"))
	if c == nil {
		notFound(w, r)
		return
	}
	items := []participantJSON{}
	for _, pt := range window(c.participants, p) {
		items = append(items, e.participantJSON(c, pt))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"participants": items,
		"meta":         p.meta("participants", conversationURL(c.sid)+"/Participants", nil, len(c.participants)),
	})
}

func (e *Emulator) listMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	order := q.Get("Order")
	if order != "" && order != "asc" && order != "desc" {
		writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Order: "+order)
		return
	}
	p, ok := parsePage(w, q, 100)
	if !ok {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.conversation(r.PathValue("sid"))
	if c == nil {
		notFound(w, r)
		return
	}
	all := c.messages
	filters := url.Values{}
	if order == "desc" {
		filters.Set("Order", order)
		all = make([]*message, len(c.messages))
		for i, m := range c.messages {
			all[len(all)-1-i] = m
		}
	}
	items := []messageJSON{}
	for _, m := range window(all, p) {
		items = append(items, e.messageJSON(c, m))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"messages": items,
		"meta":     p.meta("messages", conversationURL(c.sid)+"/Messages", filters, len(all)),
	})
}

func (e *Emulator) createMessage(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f := r.PostForm
	body := f.Get("Body")
	if body == "" {
		missing(w, "Body")
		return
	}
	attrs := "{}"
	if v, ok := f["Attributes"]; ok {
		if !json.Valid([]byte(v[0])) {
			writeError(w, http.StatusBadRequest, codeInvalidAttributes, "Attributes must be valid JSON")
			return
		}
		attrs = v[0]
	}
	author := f.Get("Author")
	if author == "" {
		author = "system" // Twilio's default author
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.conversation(r.PathValue("sid"))
	if c == nil {
		notFound(w, r)
		return
	}
	now := e.now()
	m := &message{sid: newSID("IM"), index: c.nextIndex, author: author, body: body, attributes: attrs,
		created: now, updated: now}
	for _, pt := range c.participants {
		if pt.identity == author {
			m.participantSID = pt.sid
		}
	}
	c.nextIndex++
	c.messages = append(c.messages, m)
	writeJSON(w, http.StatusCreated, e.messageJSON(c, m))
}

// fetchUser serves GET /v1/Users/{Sid}, where Sid may also be the identity,
// as at Twilio.
func (e *Emulator) fetchUser(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("sid")
	e.mu.Lock()
	defer e.mu.Unlock()
	u := e.users[key]
	if u == nil {
		u = e.usersByID[key]
	}
	if u == nil {
		notFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, e.userJSON(u))
}

// page is one page of a list, as asked by PageSize, Page and PageToken.
type page struct {
	size   int
	index  int
	offset int
}

// parsePage reads Twilio's paging parameters; it writes a 400 and returns
// false when they are malformed. A PageSize above max is lowered to max.
func parsePage(w http.ResponseWriter, q url.Values, max int) (page, bool) {
	p := page{size: 50}
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid PageSize: "+v)
			return page{}, false
		}
		p.size = min(n, max)
	}
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid Page: "+v)
			return page{}, false
		}
		p.index = n
	}
	p.offset = p.index * p.size
	if v := q.Get("PageToken"); v != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v, "PT"))
		if !strings.HasPrefix(v, "PT") || err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, codeInvalidParameter, "Invalid PageToken: "+v)
			return page{}, false
		}
		p.offset = n
	}
	return p, true
}

// window returns the items of page p.
func window[T any](all []T, p page) []T {
	if p.offset >= len(all) {
		return nil
	}
	return all[p.offset:min(p.offset+p.size, len(all))]
}

// meta is Twilio's paging envelope for page p of total items.
func (p page) meta(key, base string, filters url.Values, total int) map[string]any {
	link := func(index, offset int) string {
		v := url.Values{}
		for k, vs := range filters {
			v[k] = vs
		}
		v.Set("PageSize", strconv.Itoa(p.size))
		v.Set("Page", strconv.Itoa(index))
		if offset > 0 {
			v.Set("PageToken", "PT"+strconv.Itoa(offset))
		}
		return base + "?" + v.Encode()
	}
	var next, prev *string
	if p.offset+p.size < total {
		s := link(p.index+1, p.offset+p.size)
		next = &s
	}
	if p.offset > 0 {
		s := link(max(p.index-1, 0), max(p.offset-p.size, 0))
		prev = &s
	}
	return map[string]any{
		"page":              p.index,
		"page_size":         p.size,
		"first_page_url":    link(0, 0),
		"previous_page_url": prev,
		"url":               link(p.index, p.offset),
		"next_page_url":     next,
		"key":               key,
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
