// Package emulator is a local, in-memory emulator of the slice of Twilio's
// REST API the trust broker uses, in both kinds of Flex account:
//
//   - current Flex: Flex API v2 WebChats and the Conversations v1 resources a
//     web chat creates (conversations, participants, messages, users), the
//     Conversations configuration, address and service, participant
//     conversations by identity;
//   - legacy Flex: Flex API v1 Flex Flows, Channels and WebChannels, and the
//     Programmable Chat v2 service, channels, members, messages, users and
//     user channels they create;
//   - Studio v2 flows and the Conversations address configuration: a web
//     chat's first customer message runs its address's Studio flow, whose
//     Send to Flex widget creates the task (see studioflow.go);
//   - TaskRouter v1 tasks, workflows, task queues and task channels; a task
//     is routed to a queue by its workflow's filters (see routing.go); a
//     legacy Flex Flow's new chat gets its task at once, with the
//     pre-engagement data in the task attributes;
//   - IAM v1 Flex token validation.
//
// It serves Twilio's own paths under /_twilio/{label}/… (label being the
// first label of the Twilio host: flex-api, conversations, chat, taskrouter,
// studio, iam),
// takes the form bodies twilio-go sends, checks HTTP Basic auth like Twilio
// and answers with Twilio's JSON shapes, status codes and error bodies
// (code, message, more_info, status). Pointed at it through
// flex.BaseClient, the real twilio-go client works unchanged, so the whole
// flow runs offline in development and tests. URLs inside responses (url,
// links, paging) are Twilio's canonical https://….twilio.com ones, as Twilio
// returns them; flex.BaseClient maps them back to the emulator.
//
// Beyond Twilio's REST API it offers what development and tests need:
//
//   - the customer's calls: the chat page calls the Conversations (or Chat)
//     messages API from the browser with the customer's access token
//     (Authorization: Bearer, or X-Twilio-Token), checked as Twilio checks
//     it and scoped to that identity's chats (Twilio itself takes such
//     tokens only on its SDK's connection, not on REST);
//   - webhooks: signed like Twilio's (X-Twilio-Signature with the auth
//     token) to the configured URLs when a chat is closed or removed;
//   - fault injection (InjectFault, and /_twilio/_emulator/faults over HTTP);
//   - a clock that tests move on (Advance, and /_twilio/_emulator/clock over
//     HTTP), by which conversation timers make conversations inactive and
//     closed (see timers.go);
//   - Flex agent tokens (AgentToken) and Twilio's token validation endpoint
//     (iam: POST /v1/Accounts/{sid}/Tokens/validate) that accepts them;
//   - an agent view at /_twilio/agent: the chats an agent would get, the
//     verification summary as the agent sees it, and a reply box.
//
// The emulator records every request it receives (see Requests), so tests can
// prove what was, and was not, sent to "Twilio".
//
// It depends on the standard library only and must not import the product's
// packages. It is for development and tests: state lives in memory and is
// lost on restart.
package emulator

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// PathPrefix is where the emulator expects to be mounted: it serves
// PathPrefix + "{label}/…" and sees the full request path.
const PathPrefix = "/_twilio/"

// AgentPath is the agent view; ControlPath + "faults" the fault-injection
// control endpoint.
const (
	AgentPath   = PathPrefix + "agent"
	ControlPath = PathPrefix + "_emulator/"
)

// MaxRecordedRequests bounds the recording kept by an Emulator; older
// requests are dropped first.
const MaxRecordedRequests = 10000

// maxBodyBytes bounds request bodies, like Twilio's own request size limit.
const maxBodyBytes = 1 << 20

// Config holds the account the emulator pretends to be. Empty fields take
// the value of DevConfig.
type Config struct {
	AccountSID              string // AC…; with AuthToken, one accepted Basic-auth pair
	AuthToken               string // also signs webhooks, like Twilio
	APIKeySID               string // SK…; with APIKeySecret, the other accepted pair
	APIKeySecret            string // also verifies customers' access tokens
	AddressSID              string // IG…; the only Flex web chat address that exists
	ConversationsServiceSID string // IS…; the default Conversations service
	FlexFlowSID             string // FO…; the web Flex Flow that exists at start
	ChatServiceSID          string // IS…; the Programmable Chat service of Flex Flows
	WorkspaceSID            string // WS…; the TaskRouter workspace of Flex tasks
	WorkflowSID             string // WW…; the workspace's workflow (see WorkflowConfigurationTemplate)
	TaskChannelSID          string // TC…; the workspace's "chat" task channel

	// StudioFlowDefinition, when set, is a Studio flow definition (JSON)
	// installed at start, published, as StudioFlowName, and run by the web
	// chat address, as if `hearro flex setup` had configured the account.
	// Empty: the address runs Flex's default "Webchat Flow".
	StudioFlowName       string
	StudioFlowDefinition string

	// ConversationsWebhookURL receives Conversations post-event webhooks
	// (onConversationStateUpdated, onConversationRemoved), ChatWebhookURL the
	// Programmable Chat ones (onChannelUpdated, onChannelDestroyed). Empty:
	// none sent. Each is signed as the URL given here, as Twilio signs the URL
	// it is configured with.
	ConversationsWebhookURL string
	ChatWebhookURL          string
	// WebhookDeliveryBase, when set, is where webhooks are actually sent:
	// the scheme and host of the webhook URL are replaced by it (e.g. the
	// service's loopback address when the webhook URL is its public one).
	// The signature still covers the configured URL.
	WebhookDeliveryBase string
	// WebhookClient sends webhooks; nil means a client with a 5-second
	// timeout.
	WebhookClient *http.Client

	// AgentIdentity is the author of the agent's replies (default "agent").
	AgentIdentity string
}

// DevConfig returns fixed, well-formed development credentials. They are
// public, published in this source file, and meaningless at Twilio: use them
// only with the emulator, never for a real account.
func DevConfig() Config {
	return Config{
		AccountSID:              "ACde000000000000000000000000000001",
		AuthToken:               "devAuthTokenPublicNotSecret00000",
		APIKeySID:               "SKde000000000000000000000000000002",
		APIKeySecret:            "devApiKeySecretPublicNotSecret00",
		AddressSID:              "IGde000000000000000000000000000003",
		ConversationsServiceSID: "ISde000000000000000000000000000004",
		FlexFlowSID:             "FOde000000000000000000000000000005",
		ChatServiceSID:          "ISde000000000000000000000000000006",
		WorkspaceSID:            "WSde000000000000000000000000000007",
		WorkflowSID:             "WWde000000000000000000000000000008",
		TaskChannelSID:          "TCde000000000000000000000000000009",
		AgentIdentity:           "agent",
	}
}

// Request is one request the emulator received.
type Request struct {
	Time      time.Time
	Method    string
	Path      string     // the full path, e.g. /_twilio/flex-api/v2/WebChats
	Operation string     // Twilio's operationId, e.g. CreateWebChannel; "" when unknown
	Query     url.Values // the parsed query string
	Form      url.Values // the parsed body when it was application/x-www-form-urlencoded, else nil
	Body      []byte     // the raw body (at most 1 MiB)
	AuthUser  string     // the Basic-auth user name (an AC… or SK… SID); the password is never kept
	Identity  string     // the identity of a customer's access token; the token is never kept
}

func (r Request) clone() Request {
	r.Query = cloneValues(r.Query)
	r.Form = cloneValues(r.Form)
	r.Body = bytes.Clone(r.Body)
	return r
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// route is what the emulator knows of a served operation.
type route struct {
	service string // host label: flex-api, conversations, chat, taskrouter
	op      string // Twilio's operationId
	// customer is the service SID a customer's access token must grant for
	// the operation to accept it; "" when only the account may call it.
	customer string
}

// Emulator is an http.Handler emulating Twilio. It is safe for concurrent
// use; all state is in memory, guarded by one mutex.
type Emulator struct {
	cfg    Config
	mux    *http.ServeMux
	routes map[string]route // by mux pattern
	now    func() time.Time
	clock  atomic.Int64 // how far Advance moved the clock on, in nanoseconds

	channelRoleSID string    // RL… given to participants, like a service's default channel role
	serviceRoleSID string    // RL… given to users, like a service's default service role
	queueSID       string    // WQ…; the "Everyone" queue
	taskChannelSID string    // TC…; the "chat" task channel
	messagingSID   string    // MG…
	created        time.Time // when the emulated account's resources were made

	mu            sync.Mutex // held by every handler of the API (see routesInit)
	conversations table[*conversation]
	users         table[*user] // Conversations users
	flows         table[*flexFlow]
	channels      table[*channel]
	chatUsers     table[*user] // Programmable Chat users
	tasks         table[*task]
	studioFlows   table[*studioFlow]
	addresses     table[*address]
	workflows     table[*workflow]
	queues        table[*taskQueue]
	taskChannels  table[*taskChannel]
	faults        []*Fault
	webhooks      []WebhookDelivery
	pending       []pendingWebhook // queued for delivery
	delivering    bool             // a goroutine is delivering pending
	recorded      []Request        // ring buffer of at most MaxRecordedRequests
	recordedNext  int              // where the next request goes once recorded is full

	deliveries sync.WaitGroup
}

// New returns an emulator of the account cfg describes.
func New(cfg Config) *Emulator {
	dev := DevConfig()
	fill := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	fill(&cfg.AccountSID, dev.AccountSID)
	fill(&cfg.AuthToken, dev.AuthToken)
	fill(&cfg.APIKeySID, dev.APIKeySID)
	fill(&cfg.APIKeySecret, dev.APIKeySecret)
	fill(&cfg.AddressSID, dev.AddressSID)
	fill(&cfg.ConversationsServiceSID, dev.ConversationsServiceSID)
	fill(&cfg.FlexFlowSID, dev.FlexFlowSID)
	fill(&cfg.ChatServiceSID, dev.ChatServiceSID)
	fill(&cfg.WorkspaceSID, dev.WorkspaceSID)
	fill(&cfg.WorkflowSID, dev.WorkflowSID)
	fill(&cfg.TaskChannelSID, dev.TaskChannelSID)
	fill(&cfg.AgentIdentity, dev.AgentIdentity)
	if cfg.WebhookClient == nil {
		cfg.WebhookClient = &http.Client{
			Timeout:       5 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}

	e := &Emulator{
		cfg:            cfg,
		now:            nil, // below: the clock Advance moves
		channelRoleSID: newSID("RL"),
		serviceRoleSID: newSID("RL"),
		queueSID:       newSID("WQ"),
		taskChannelSID: cfg.TaskChannelSID,
		messagingSID:   newSID("MG"),
	}
	e.now = func() time.Time { return time.Now().Add(time.Duration(e.clock.Load())).UTC().Truncate(time.Second) }
	created := e.now()
	e.created = created
	e.flows.add(&flexFlow{
		sid: cfg.FlexFlowSID, friendlyName: "Flex Web Channel Flow", chatServiceSID: cfg.ChatServiceSID,
		channelType: "web", enabled: true, integrationType: "task", janitorEnabled: true,
		created: created, updated: created,
	})
	e.newRouting(created)
	e.newStudio(created)
	e.routes = map[string]route{}
	e.routesInit()
	return e
}

// routesInit serves Twilio's operations. Their handlers run one at a time,
// holding e.mu. A handler is either a method, for what only that operation
// does, or one of the shapes written once (fetch, update, listMembers,
// listMessages, postMessage, deleteChat) given how to find the resource
// (a finder), what changes it and its JSON.
func (e *Emulator) routesInit() {
	m := http.NewServeMux()
	handle := func(method, service, path, op, customer string, h http.HandlerFunc) {
		pattern := method + " " + PathPrefix + service + path
		m.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			e.mu.Lock()
			defer e.mu.Unlock()
			e.applyTimers()
			h(w, r)
		})
		e.routes[pattern] = route{service: service, op: op, customer: customer}
	}
	convSvc, chatSvc := e.cfg.ConversationsServiceSID, e.cfg.ChatServiceSID // services customers may call

	// Flex API v2 and v1.
	handle("POST", "flex-api", "/v2/WebChats", "CreateWebChannel", "", e.createWebChat)
	handle("GET", "flex-api", "/v1/FlexFlows", "ListFlexFlow", "", e.listFlexFlows)
	handle("POST", "flex-api", "/v1/FlexFlows", "CreateFlexFlow", "", e.createFlexFlow)
	handle("GET", "flex-api", "/v1/FlexFlows/{sid}", "FetchFlexFlow", "", fetch(e.flowOf, e.flexFlowJSON))
	handle("POST", "flex-api", "/v1/FlexFlows/{sid}", "UpdateFlexFlow", "", update(nil, e.flowOf, e.applyFlowUpdate, e.flexFlowJSON))
	handle("POST", "flex-api", "/v1/Channels", "CreateChannel", "", e.createFlexChannel)
	handle("POST", "flex-api", "/v1/WebChannels", "CreateWebChannel", "", e.createFlexWebChannel)

	// Conversations v1.
	handle("GET", "conversations", "/v1/Configuration", "FetchConfiguration", "", e.fetchConversationsConfiguration)
	handle("GET", "conversations", "/v1/Configuration/Addresses", "ListConfigurationAddress", "", e.listAddresses)
	handle("POST", "conversations", "/v1/Configuration/Addresses", "CreateConfigurationAddress", "", e.createAddress)
	handle("GET", "conversations", "/v1/Configuration/Addresses/{sid}", "FetchConfigurationAddress", "", fetch(e.addressOf, e.addressJSON))
	handle("POST", "conversations", "/v1/Configuration/Addresses/{sid}", "UpdateConfigurationAddress", "", update(nil, e.addressOf, e.applyAddress, e.addressJSON))
	handle("DELETE", "conversations", "/v1/Configuration/Addresses/{sid}", "DeleteConfigurationAddress", "", e.deleteAddress)
	handle("GET", "conversations", "/v1/Services/{sid}", "FetchService", "", fetch(singleton("sid", e.cfg.ConversationsServiceSID), e.conversationsServiceJSON))
	handle("GET", "conversations", "/v1/ParticipantConversations", "ListParticipantConversation", "", e.listParticipantConversations)
	handle("GET", "conversations", "/v1/Services/{service}/ParticipantConversations", "ListServiceParticipantConversation", "", e.listParticipantConversations)
	handle("GET", "conversations", "/v1/Conversations", "ListConversation", "", e.listConversations)
	handle("GET", "conversations", "/v1/Conversations/{sid}", "FetchConversation", convSvc, fetch(e.conversationOf, e.conversationJSON))
	handle("POST", "conversations", "/v1/Conversations/{sid}", "UpdateConversation", "", update(conversationFormValid, e.conversationOf, e.applyConversation, e.conversationJSON))
	handle("DELETE", "conversations", "/v1/Conversations/{sid}", "DeleteConversation", "", deleteChat(e, &e.conversations, e.conversationOf, e.conversationRemoved))
	handle("GET", "conversations", "/v1/Conversations/{sid}/Participants", "ListConversationParticipant", convSvc, listMembers(e.conversationOf, conversationURL, "participants", "/Participants", e.participantJSON))
	handle("GET", "conversations", "/v1/Conversations/{sid}/Participants/{participant}", "FetchConversationParticipant", "", fetch(e.participantOf, e.participantJSON))
	handle("POST", "conversations", "/v1/Conversations/{sid}/Participants/{participant}", "UpdateConversationParticipant", "", update(attributesValid, e.participantOf, e.applyParticipant, e.participantJSON))
	handle("GET", "conversations", "/v1/Conversations/{sid}/Messages", "ListConversationMessage", convSvc, listMessages(e.conversationOf, conversationURL, e.messageJSON))
	handle("POST", "conversations", "/v1/Conversations/{sid}/Messages", "CreateConversationMessage", convSvc, postMessage(e, "Author", e.openConversationOf, e.messageJSON))
	handle("GET", "conversations", "/v1/Users/{sid}", "FetchUser", "", fetch(e.userOf, e.userJSON))
	handle("POST", "conversations", "/v1/Users/{sid}", "UpdateUser", "", update(attributesValid, e.userOf, e.applyUser, e.userJSON))

	// Programmable Chat v2.
	handle("GET", "chat", "/v2/Services/{sid}", "FetchService", "", fetch(singleton("sid", e.cfg.ChatServiceSID), e.chatServiceJSON))
	handle("GET", "chat", "/v2/Services/{service}/Channels/{sid}", "FetchChannel", chatSvc, fetch(e.channelOf, e.chatChannelJSON))
	handle("POST", "chat", "/v2/Services/{service}/Channels/{sid}", "UpdateChannel", "", update(attributesValid, e.channelOf, e.applyChannel, e.chatChannelJSON))
	handle("DELETE", "chat", "/v2/Services/{service}/Channels/{sid}", "DeleteChannel", "", deleteChat(e, &e.channels, e.channelOf, e.channelRemoved))
	handle("GET", "chat", "/v2/Services/{service}/Channels/{sid}/Members", "ListMember", chatSvc, listMembers(e.channelOf, e.channelURL, "members", "/Members", e.chatMemberJSON))
	handle("GET", "chat", "/v2/Services/{service}/Channels/{sid}/Messages", "ListMessage", chatSvc, listMessages(e.channelOf, e.channelURL, e.chatMessageJSON))
	handle("POST", "chat", "/v2/Services/{service}/Channels/{sid}/Messages", "CreateMessage", chatSvc, postMessage(e, "From", e.channelOf, e.chatMessageJSON))
	handle("GET", "chat", "/v2/Services/{service}/Users/{sid}", "FetchUser", "", fetch(e.chatUserOf, e.chatUserJSON))
	handle("GET", "chat", "/v2/Services/{service}/Users/{sid}/Channels", "ListUserChannel", "", e.listUserChannels)

	// TaskRouter v1.
	handle("GET", "taskrouter", "/v1/Workspaces/{workspace}/Tasks", "ListTask", "", e.listTasks)
	handle("GET", "taskrouter", "/v1/Workspaces/{workspace}/Tasks/{sid}", "FetchTask", "", fetch(e.taskOf, e.taskJSON))
	handle("POST", "taskrouter", "/v1/Workspaces/{workspace}/Tasks/{sid}", "UpdateTask", "", update(nil, e.taskOf, e.applyTask, e.taskJSON))
	handle("DELETE", "taskrouter", "/v1/Workspaces/{workspace}/Tasks/{sid}", "DeleteTask", "", e.deleteTask)
	handle("GET", "taskrouter", "/v1/Workspaces/{workspace}/Workflows", "ListWorkflow", "", listInWorkspace(e, &e.workflows, "workflows", "/Workflows", e.workflowJSON))
	handle("GET", "taskrouter", "/v1/Workspaces/{workspace}/Workflows/{sid}", "FetchWorkflow", "", fetch(inWorkspace(e, &e.workflows), e.workflowJSON))
	handle("POST", "taskrouter", "/v1/Workspaces/{workspace}/Workflows/{sid}", "UpdateWorkflow", "", update(nil, inWorkspace(e, &e.workflows), e.applyWorkflow, e.workflowJSON))
	handle("GET", "taskrouter", "/v1/Workspaces/{workspace}/TaskQueues", "ListTaskQueue", "", listInWorkspace(e, &e.queues, "task_queues", "/TaskQueues", e.taskQueueJSON))
	handle("GET", "taskrouter", "/v1/Workspaces/{workspace}/TaskQueues/{sid}", "FetchTaskQueue", "", fetch(inWorkspace(e, &e.queues), e.taskQueueJSON))
	handle("GET", "taskrouter", "/v1/Workspaces/{workspace}/TaskChannels", "ListTaskChannel", "", listInWorkspace(e, &e.taskChannels, "channels", "/TaskChannels", e.taskChannelJSON))

	// Studio v2.
	handle("GET", "studio", "/v2/Flows", "ListFlow", "", e.listStudioFlows)
	handle("POST", "studio", "/v2/Flows", "CreateFlow", "", e.createStudioFlow)
	handle("GET", "studio", "/v2/Flows/{sid}", "FetchFlow", "", fetch(e.studioFlowOf, e.studioFlowJSON))
	handle("POST", "studio", "/v2/Flows/{sid}", "UpdateFlow", "", update(func(w http.ResponseWriter, f url.Values) bool { return flowForm(w, f, false) }, e.studioFlowOf, e.applyStudioFlow, e.studioFlowJSON))
	handle("DELETE", "studio", "/v2/Flows/{sid}", "DeleteFlow", "", e.deleteStudioFlow)

	// Flex token validation (iam.twilio.com), what Flex plugin backends call.
	handle("POST", "iam", "/v1/Accounts/{account}/Tokens/validate", "ValidateToken", "", e.validateToken)

	m.HandleFunc("/", notFound)
	e.mux = m
}

// ServeHTTP serves the agent view and the control endpoints, and otherwise
// records the request, checks its credentials like Twilio, applies any
// injected fault, and serves it.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == AgentPath || strings.HasPrefix(r.URL.Path, AgentPath+"/"):
		e.serveAgent(w, r)
		return
	case strings.HasPrefix(r.URL.Path, ControlPath):
		e.serveControl(w, r)
		return
	}
	w.Header().Set("Twilio-Request-Id", newSID("RQ"))

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, 20001, "Request body too large")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	_, pattern := e.mux.Handler(r)
	rt := e.routes[pattern]
	user, pass, hasBasic := r.BasicAuth()
	token := accessToken(r)

	rec := Request{
		Time:      time.Now(),
		Method:    r.Method,
		Path:      r.URL.Path,
		Operation: rt.op,
		Query:     r.URL.Query(),
		Body:      body,
		AuthUser:  user,
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			rec.Form = form
		}
	}

	switch {
	case hasBasic && !e.authenticated(user, pass), !hasBasic && token == "": // wrong credentials, or none
		e.record(rec)
		unauthorized(w, "Twilio API")
		return
	case !hasBasic:
		identity, status, code, msg := e.customer(token, rt)
		rec.Identity = identity
		if status != 0 {
			e.record(rec)
			writeError(w, status, code, msg)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), customerKey{}, identity))
	}
	e.record(rec)
	if f, ok := e.takeFault(rt); ok {
		e.serveFault(w, r, f)
		return
	}
	e.mux.ServeHTTP(w, r)
}

// unauthorized answers Twilio's 401 to a request without valid credentials,
// asking for HTTP Basic auth in realm.
func unauthorized(w http.ResponseWriter, realm string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="`+realm+`"`)
	writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
}

func (e *Emulator) authenticated(user, pass string) bool {
	eq := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	account := eq(user, e.cfg.AccountSID) && eq(pass, e.cfg.AuthToken)
	apiKey := eq(user, e.cfg.APIKeySID) && eq(pass, e.cfg.APIKeySecret)
	return account || apiKey
}

func (e *Emulator) record(r Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.recorded) < MaxRecordedRequests {
		e.recorded = append(e.recorded, r)
		return
	}
	e.recorded[e.recordedNext] = r
	e.recordedNext = (e.recordedNext + 1) % MaxRecordedRequests
}

// Requests returns the requests received, oldest first: all of them, or the
// last MaxRecordedRequests. The agent view and the control endpoints are not
// Twilio's API and are not recorded. The result is a copy.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, 0, len(e.recorded))
	for i := range e.recorded {
		out = append(out, e.recorded[(e.recordedNext+i)%len(e.recorded)].clone())
	}
	return out
}

// Close waits until the queued webhooks are delivered. The emulator stays
// usable.
func (e *Emulator) Close() {
	e.deliveries.Wait()
}

// newSID returns prefix followed by 32 random hex digits, like Twilio's SIDs.
func newSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}
