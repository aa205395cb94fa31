package emulator_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	chatv2 "github.com/twilio/twilio-go/rest/chat/v2"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	flexv1 "github.com/twilio/twilio-go/rest/flex/v1"
	flexv2 "github.com/twilio/twilio-go/rest/flex/v2"
	studio "github.com/twilio/twilio-go/rest/studio/v2"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/hearro/trustbroker/flex/emulator"
)

// The OpenAPI descriptions in testdata/twilio-oai, by the host label the
// emulator serves them under and the API version.
var specFiles = map[string]string{
	"flex-api/v2":      "twilio_flex_v2.json",
	"flex-api/v1":      "twilio_flex_v1.json",
	"conversations/v1": "twilio_conversations_v1.json",
	"taskrouter/v1":    "twilio_taskrouter_v1.json",
	"studio/v2":        "twilio_studio_v2.json",
}

// specDirs are where the descriptions are looked for: this package's
// testdata, then the team's shared copy of twilio-oai (where the Studio
// description is kept; TWILIO_OAI_DIR overrides it).
func specDirs() []string {
	dirs := []string{filepath.Join("testdata", "twilio-oai")}
	if d := os.Getenv("TWILIO_OAI_DIR"); d != "" {
		dirs = append(dirs, d)
	}
	return append(dirs, filepath.Join("..", "..", "..", "shared", "twilio-oai"), "/work/shared/twilio-oai")
}

func readSpec(file string) ([]byte, error) {
	var err error
	for _, dir := range specDirs() {
		var b []byte
		if b, err = os.ReadFile(filepath.Join(dir, file)); err == nil {
			return b, nil
		}
	}
	return nil, err
}

// exchange is one request the emulator answered, and its answer.
type exchange struct {
	req    *http.Request
	status int
	header http.Header
	body   []byte
}

// recording wraps a handler and keeps every exchange.
type recording struct {
	h  http.Handler
	mu sync.Mutex
	ex []exchange
}

func (rec *recording) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := httptest.NewRecorder()
	rec.h.ServeHTTP(rw, r)
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rw.Code)
	_, _ = w.Write(rw.Body.Bytes())
	rec.mu.Lock()
	rec.ex = append(rec.ex, exchange{req: r.Clone(r.Context()), status: rw.Code, header: rw.Header().Clone(), body: rw.Body.Bytes()})
	rec.mu.Unlock()
}

// operation is an operation of a Twilio OpenAPI description.
type operation struct {
	label    string // flex-api, conversations
	file     string
	spec     map[string]any // the whole description, for $ref
	path     string         // the path template, e.g. /v1/Conversations/{Sid}
	method   string
	id       string // operationId
	op       map[string]any
	pathArgs map[string]string
}

type specs map[string]map[string]any // by label/version

func loadSpecs(t *testing.T) specs {
	t.Helper()
	s := specs{}
	for key, file := range specFiles {
		b, err := readSpec(file)
		if err != nil && key == "studio/v2" {
			t.Logf("Studio's description %s is not here (%v): Studio responses are not checked", file, err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		s[key] = doc
	}
	return s
}

// find returns the operation an emulator request is, matching the path
// after /_twilio/{label} against the description's path templates.
func (s specs) find(method, path string) (operation, bool) {
	label, rest, _ := strings.Cut(strings.TrimPrefix(path, emulator.PathPrefix), "/")
	version, _, _ := strings.Cut(rest, "/")
	key := label + "/" + version
	doc := s[key]
	if doc == nil {
		return operation{}, false
	}
	got := strings.Split("/"+rest, "/")
	for tmpl, item := range doc["paths"].(map[string]any) {
		want := strings.Split(tmpl, "/")
		if len(want) != len(got) {
			continue
		}
		args := map[string]string{}
		match := true
		for i := range want {
			if strings.HasPrefix(want[i], "{") {
				args[strings.Trim(want[i], "{}")] = got[i]
			} else if want[i] != got[i] {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		op, ok := item.(map[string]any)[strings.ToLower(method)].(map[string]any)
		if !ok {
			return operation{}, false
		}
		return operation{label: label, file: specFiles[key], spec: doc, path: tmpl, method: method,
			id: op["operationId"].(string), op: op, pathArgs: args}, true
	}
	return operation{}, false
}

// TestResponsesMatchTwilioSchemas drives the emulator with the real
// twilio-go client through every operation the product uses and validates
// each response against Twilio's own OpenAPI description: 2xx bodies
// against the operation's response schema, errors against Twilio's error
// body.
func TestResponsesMatchTwilioSchemas(t *testing.T) {
	s := loadSpecs(t)
	rec := &recording{}
	_, srv := start(t, func(h http.Handler) http.Handler { rec.h = h; return rec })
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	// The calls. Failures here are reported by the other tests; this one
	// checks the shapes of whatever came back.
	var sids []string
	for i := range 3 {
		wc := createChat(t, rc, fmt.Sprintf("hr_schema%d", i%2), "Dana", "", `{"verified":true}`)
		sids = append(sids, *wc.ConversationSid)
	}
	sid := sids[0]
	_, _ = rc.FlexV2.CreateWebChannel((&flexv2.CreateWebChannelParams{}).SetAddressSid(dev.AddressSID)) // anonymous guest
	_, _ = rc.ConversationsV1.FetchConversation(sid)
	_, _ = rc.ConversationsV1.CreateConversationMessage(sid, (&conversations.CreateConversationMessageParams{}).SetAuthor("hr_schema0").SetBody("hi"))
	_, _ = rc.ConversationsV1.CreateConversationMessage(sid, (&conversations.CreateConversationMessageParams{}).SetBody("from the system").SetAttributes(`{"k":"v"}`))
	_, _ = rc.ConversationsV1.UpdateConversation(sid, (&conversations.UpdateConversationParams{}).
		SetAttributes(`{"verification":{"ok":true}}`).SetFriendlyName("Dana").SetUniqueName("dana-1").SetState("closed"))
	_, _ = rc.ConversationsV1.FetchConversation("dana-1")
	_, _ = rc.ConversationsV1.ListConversation((&conversations.ListConversationParams{}).SetPageSize(2))
	_, _ = rc.ConversationsV1.ListConversation((&conversations.ListConversationParams{}).SetState("closed"))
	parts, _ := rc.ConversationsV1.ListConversationParticipant(sid, nil)
	if len(parts) > 0 {
		_, _ = rc.ConversationsV1.FetchConversationParticipant(sid, *parts[0].Sid)
		_, _ = rc.ConversationsV1.UpdateConversationParticipant(sid, *parts[0].Sid, (&conversations.UpdateConversationParticipantParams{}).SetAttributes(`{"v":1}`))
	}
	_, _ = rc.ConversationsV1.ListConversationMessage(sid, (&conversations.ListConversationMessageParams{}).SetPageSize(1))
	_, _ = rc.ConversationsV1.ListConversationMessage(sid, (&conversations.ListConversationMessageParams{}).SetOrder("desc"))
	_, _ = rc.ConversationsV1.FetchUser("hr_schema1")
	_, _ = rc.ConversationsV1.ListParticipantConversation((&conversations.ListParticipantConversationParams{}).SetIdentity("hr_schema0").SetPageSize(1))
	_, _ = rc.ConversationsV1.ListServiceParticipantConversation(dev.ConversationsServiceSID, (&conversations.ListServiceParticipantConversationParams{}).SetIdentity("hr_schema1"))
	_, _ = rc.ConversationsV1.FetchConfiguration()
	_, _ = rc.ConversationsV1.FetchConfigurationAddress(dev.AddressSID)
	_, _ = rc.ConversationsV1.FetchService(dev.ConversationsServiceSID)
	_ = rc.ConversationsV1.DeleteConversation(sids[2], nil)

	// Studio flows, the address configuration and TaskRouter routing, as
	// `hearro flex setup` and the first customer message use them.
	flowDef := map[string]any{"initial_state": "Trigger", "states": []any{map[string]any{"name": "Trigger", "type": "trigger", "transitions": []any{}, "properties": map[string]any{}}}}
	fl, _ := rc.StudioV2.CreateFlow((&studio.CreateFlowParams{}).SetFriendlyName("Schema").SetStatus("published").SetDefinition(flowDef))
	_, _ = rc.StudioV2.ListFlow(nil)
	if fl != nil {
		_, _ = rc.StudioV2.FetchFlow(*fl.Sid)
		_, _ = rc.StudioV2.UpdateFlow(*fl.Sid, (&studio.UpdateFlowParams{}).SetStatus("draft"))
		_ = rc.StudioV2.DeleteFlow(*fl.Sid)
	}
	_, _ = rc.StudioV2.FetchFlow("FW00000000000000000000000000000000")
	_, _ = rc.ConversationsV1.ListConfigurationAddress(nil)
	_, _ = rc.ConversationsV1.UpdateConfigurationAddress(dev.AddressSID, (&conversations.UpdateConfigurationAddressParams{}).SetAutoCreationEnabled(true))
	ca, _ := rc.ConversationsV1.CreateConfigurationAddress((&conversations.CreateConfigurationAddressParams{}).SetType("sms").SetAddress("+15005550006").
		SetAutoCreationEnabled(true).SetAutoCreationType("webhook").SetAutoCreationWebhookUrl("https://example.com/hook").SetAutoCreationWebhookMethod("POST"))
	if ca != nil {
		_, _ = rc.ConversationsV1.FetchConfigurationAddress(*ca.Sid)
		_ = rc.ConversationsV1.DeleteConfigurationAddress(*ca.Sid)
	}
	_, _ = rc.TaskrouterV1.ListWorkflow(dev.WorkspaceSID, nil)
	wf, _ := rc.TaskrouterV1.FetchWorkflow(dev.WorkspaceSID, dev.WorkflowSID)
	if wf != nil {
		_, _ = rc.TaskrouterV1.UpdateWorkflow(dev.WorkspaceSID, dev.WorkflowSID, (&taskrouter.UpdateWorkflowParams{}).SetConfiguration(*wf.Configuration))
	}
	_, _ = rc.TaskrouterV1.UpdateWorkflow(dev.WorkspaceSID, dev.WorkflowSID, (&taskrouter.UpdateWorkflowParams{}).SetConfiguration("{"))
	queues, _ := rc.TaskrouterV1.ListTaskQueue(dev.WorkspaceSID, nil)
	if len(queues) > 0 {
		_, _ = rc.TaskrouterV1.FetchTaskQueue(dev.WorkspaceSID, *queues[0].Sid)
	}
	_, _ = rc.TaskrouterV1.ListTaskChannel(dev.WorkspaceSID, nil)
	// A customer's first message makes a task (the default flow).
	_, _ = rc.ConversationsV1.CreateConversationMessage(sids[1], (&conversations.CreateConversationMessageParams{}).SetAuthor("hr_schema1").SetBody("hi"))

	// Legacy Flex: Flex Flows, Flex channels, their Chat resources.
	_, _ = rc.FlexV1.ListFlexFlow(nil)
	_, _ = rc.FlexV1.FetchFlexFlow(dev.FlexFlowSID)
	sms, _ := rc.FlexV1.CreateFlexFlow((&flexv1.CreateFlexFlowParams{}).SetFriendlyName("SMS").SetChatServiceSid(dev.ChatServiceSID).SetChannelType("sms"))
	if sms != nil {
		_, _ = rc.FlexV1.UpdateFlexFlow(*sms.Sid, (&flexv1.UpdateFlexFlowParams{}).SetEnabled(false))
	}
	ch, _ := rc.FlexV1.CreateChannel((&flexv1.CreateChannelParams{}).SetFlexFlowSid(dev.FlexFlowSID).SetIdentity("hr_legacy").
		SetChatUserFriendlyName("Lee").SetChatFriendlyName("Chat with Lee").SetChatUniqueName("lee-1").SetPreEngagementData(`{"verified":true}`))
	_, _ = rc.FlexV1.CreateWebChannel((&flexv1.CreateWebChannelParams{}).SetFlexFlowSid(dev.FlexFlowSID).SetIdentity("hr_legacy").
		SetCustomerFriendlyName("Lee").SetChatFriendlyName("Again"))
	_, _ = rc.ChatV2.FetchService(dev.ChatServiceSID)
	if ch != nil {
		_, _ = rc.ChatV2.FetchChannel(dev.ChatServiceSID, *ch.Sid)
		_, _ = rc.ChatV2.FetchChannel(dev.ChatServiceSID, "lee-1")
		_, _ = rc.ChatV2.UpdateChannel(dev.ChatServiceSID, *ch.Sid, (&chatv2.UpdateChannelParams{}).SetAttributes(`{"status":"ACTIVE"}`))
		_, _ = rc.ChatV2.CreateMessage(dev.ChatServiceSID, *ch.Sid, (&chatv2.CreateMessageParams{}).SetFrom("hr_legacy").SetBody("hello"))
		_, _ = rc.ChatV2.ListMessage(dev.ChatServiceSID, *ch.Sid, nil)
		_, _ = rc.ChatV2.ListMember(dev.ChatServiceSID, *ch.Sid, nil)
		_, _ = rc.TaskrouterV1.FetchTask(dev.WorkspaceSID, *ch.TaskSid)
	}
	_, _ = rc.ChatV2.FetchUser(dev.ChatServiceSID, "hr_legacy")
	_, _ = rc.ChatV2.ListUserChannel(dev.ChatServiceSID, "hr_legacy", nil)
	_, _ = rc.TaskrouterV1.ListTask(dev.WorkspaceSID, (&taskrouter.ListTaskParams{}).SetPageSize(2))

	// Errors.
	_, _ = rc.ConversationsV1.FetchConversation("CH00000000000000000000000000000000")
	_, _ = rc.ConversationsV1.UpdateConversation(sid, (&conversations.UpdateConversationParams{}).SetAttributes("nope"))
	_, _ = rc.FlexV2.CreateWebChannel(nil)
	_, _ = rest(t, srv, dev.AccountSID, "wrongAuthToken000000000000000000").ConversationsV1.FetchUser("hr_schema1")
	_, _ = rc.FlexV1.FetchFlexFlow("FO00000000000000000000000000000000")
	_, _ = rc.FlexV1.CreateChannel((&flexv1.CreateChannelParams{}).SetFlexFlowSid(dev.FlexFlowSID).SetIdentity("hr_legacy").
		SetChatUserFriendlyName("Lee").SetChatFriendlyName("Dup").SetChatUniqueName("lee-1"))
	_, _ = rc.ChatV2.FetchChannel(dev.ChatServiceSID, "nope")
	_, _ = rc.ConversationsV1.ListParticipantConversation(nil)

	kin := newKinValidator(t)
	seen := map[string]bool{}
	for _, ex := range rec.ex {
		name := ex.req.Method + " " + ex.req.URL.RequestURI()
		if ex.status >= 400 {
			checkErrorBody(t, name, ex)
			continue
		}
		if strings.HasPrefix(ex.req.URL.Path, emulator.PathPrefix+"chat/") {
			if id := checkChatResponse(t, name, ex); id != "" {
				seen["chat:"+id] = true
			}
			continue
		}
		op, ok := s.find(ex.req.Method, ex.req.URL.Path)
		if !ok {
			t.Errorf("%s: no such operation in Twilio's descriptions", name)
			continue
		}
		seen[op.label+":"+op.id] = true
		if ex.status == http.StatusNoContent {
			if len(ex.body) != 0 {
				t.Errorf("%s: 204 with a body", name)
			}
			continue
		}
		checkResponse(t, name, op, ex)
		if err := kin.validate(op, ex); err != nil {
			t.Errorf("%s: kin-openapi: %v", name, err)
		}
	}
	for _, id := range []string{
		"flex-api:CreateWebChannel", "flex-api:ListFlexFlow", "flex-api:FetchFlexFlow", "flex-api:CreateFlexFlow",
		"flex-api:UpdateFlexFlow", "flex-api:CreateChannel",
		"conversations:FetchConversation", "conversations:UpdateConversation", "conversations:DeleteConversation",
		"conversations:ListConversation", "conversations:ListConversationParticipant", "conversations:FetchConversationParticipant",
		"conversations:UpdateConversationParticipant", "conversations:CreateConversationMessage", "conversations:ListConversationMessage",
		"conversations:FetchUser", "conversations:ListParticipantConversation", "conversations:ListServiceParticipantConversation",
		"conversations:FetchConfiguration", "conversations:FetchConfigurationAddress", "conversations:FetchService",
		"taskrouter:ListTask", "taskrouter:FetchTask",
		"conversations:ListConfigurationAddress", "conversations:UpdateConfigurationAddress", "conversations:CreateConfigurationAddress",
		"conversations:DeleteConfigurationAddress",
		"taskrouter:ListWorkflow", "taskrouter:FetchWorkflow", "taskrouter:UpdateWorkflow", "taskrouter:ListTaskQueue",
		"taskrouter:FetchTaskQueue", "taskrouter:ListTaskChannel",
		"chat:FetchService", "chat:FetchChannel", "chat:UpdateChannel", "chat:CreateMessage", "chat:ListMessage",
		"chat:ListMember", "chat:FetchUser", "chat:ListUserChannel",
	} {
		if !seen[id] {
			t.Errorf("operation %s was not exercised", id)
		}
	}
	if s["studio/v2"] != nil {
		for _, id := range []string{"studio:CreateFlow", "studio:ListFlow", "studio:FetchFlow", "studio:UpdateFlow", "studio:DeleteFlow"} {
			if !seen[id] {
				t.Errorf("operation %s was not exercised", id)
			}
		}
	}
}

// chatModels are twilio-go's models of the Programmable Chat v2 responses,
// generated from Twilio's twilio_chat_v2.json, by method and path pattern.
var chatModels = []struct {
	method, pattern, id string
	model               func() any
}{
	{"GET", `^/v2/Services/IS\w+$`, "FetchService", func() any { return &chatv2.ChatV2Service{} }},
	{"GET", `^/v2/Services/IS\w+/Channels/[^/]+$`, "FetchChannel", func() any { return &chatv2.ChatV2Channel{} }},
	{"POST", `^/v2/Services/IS\w+/Channels/[^/]+$`, "UpdateChannel", func() any { return &chatv2.ChatV2Channel{} }},
	{"GET", `^/v2/Services/IS\w+/Channels/[^/]+/Members$`, "ListMember", func() any { return &chatv2.ListMemberResponse{} }},
	{"GET", `^/v2/Services/IS\w+/Channels/[^/]+/Messages$`, "ListMessage", func() any { return &chatv2.ListMessageResponse{} }},
	{"POST", `^/v2/Services/IS\w+/Channels/[^/]+/Messages$`, "CreateMessage", func() any { return &chatv2.ChatV2Message{} }},
	{"GET", `^/v2/Services/IS\w+/Users/[^/]+$`, "FetchUser", func() any { return &chatv2.ChatV2User{} }},
	{"GET", `^/v2/Services/IS\w+/Users/[^/]+/Channels$`, "ListUserChannel", func() any { return &chatv2.ListUserChannelResponse{} }},
}

// checkChatResponse decodes a Chat response into twilio-go's model,
// refusing any field the model (hence Twilio's description) does not have,
// and returns the operation.
func checkChatResponse(t *testing.T, name string, ex exchange) string {
	t.Helper()
	path := strings.TrimPrefix(ex.req.URL.Path, emulator.PathPrefix+"chat")
	for _, m := range chatModels {
		if m.method != ex.req.Method || !regexp.MustCompile(m.pattern).MatchString(path) {
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(ex.body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(m.model()); err != nil {
			t.Errorf("%s (%s): %v", name, m.id, err)
		}
		if ct := ex.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", name, ct)
		}
		return m.id
	}
	t.Errorf("%s: not a known Chat operation", name)
	return ""
}

// checkResponse validates a 2xx exchange against the operation's response.
func checkResponse(t *testing.T, name string, op operation, ex exchange) {
	t.Helper()
	resp, ok := op.op["responses"].(map[string]any)[fmt.Sprint(ex.status)].(map[string]any)
	if !ok {
		t.Errorf("%s: status %d is not a response of %s", name, ex.status, op.id)
		return
	}
	media, ok := resp["content"].(map[string]any)["application/json"].(map[string]any)
	if !ok {
		t.Errorf("%s: %s has no application/json response", name, op.id)
		return
	}
	if ct := ex.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
	var body any
	dec := json.NewDecoder(bytes.NewReader(ex.body))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Errorf("%s: body is not JSON: %v", name, err)
		return
	}
	for _, problem := range (&schemaCheck{doc: op.spec}).check(media["schema"].(map[string]any), body, "$") {
		t.Errorf("%s (%s): %s", name, op.id, problem)
	}
}

// checkErrorBody checks Twilio's error body: code, message, more_info, status.
func checkErrorBody(t *testing.T, name string, ex exchange) {
	t.Helper()
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(ex.body))
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		t.Errorf("%s: error body is not JSON: %v", name, err)
		return
	}
	code, _ := body["code"].(json.Number)
	status, _ := body["status"].(json.Number)
	msg, _ := body["message"].(string)
	if code == "" || msg == "" || status.String() != fmt.Sprint(ex.status) ||
		body["more_info"] != "https://www.twilio.com/docs/errors/"+code.String() || len(body) != 4 {
		t.Errorf("%s: error body %s is not Twilio's {code, message, more_info, status}", name, ex.body)
	}
}

// schemaCheck validates JSON against the subset of OpenAPI 3.0 schemas
// Twilio's descriptions use ($ref, type, nullable, properties, items, enum,
// pattern, minLength, maxLength, format date-time and uri). It is stricter
// than the descriptions in one way: a property the schema does not declare
// is an error, so the emulator cannot drift from Twilio's field names.
type schemaCheck struct {
	doc map[string]any
}

func (c *schemaCheck) resolve(schema map[string]any) map[string]any {
	for {
		ref, ok := schema["$ref"].(string)
		if !ok {
			return schema
		}
		node := any(c.doc)
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			node = node.(map[string]any)[part]
		}
		schema = node.(map[string]any)
	}
}

func (c *schemaCheck) check(schema map[string]any, v any, at string) []string {
	schema = c.resolve(schema)
	if v == nil {
		if schema["nullable"] == true || schema["type"] == nil {
			return nil
		}
		return []string{at + ": null, but not nullable"}
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, at+": "+fmt.Sprintf(format, args...)) }
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		bad("%v is not one of %v", v, enum)
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			bad("%T, want object", v)
			break
		}
		props, _ := schema["properties"].(map[string]any)
		for _, k := range sortedKeys(obj) {
			ps, declared := props[k].(map[string]any)
			if !declared {
				if props != nil {
					bad("property %q is not in Twilio's schema", k)
				}
				continue
			}
			problems = append(problems, c.check(ps, obj[k], at+"."+k)...)
		}
		if req, ok := schema["required"].([]any); ok {
			for _, k := range req {
				if _, ok := obj[k.(string)]; !ok {
					bad("required property %q missing", k)
				}
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			bad("%T, want array", v)
			break
		}
		if items, ok := schema["items"].(map[string]any); ok {
			for i, item := range arr {
				problems = append(problems, c.check(items, item, fmt.Sprintf("%s[%d]", at, i))...)
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			bad("%T, want string", v)
			break
		}
		n := utf8.RuneCountInString(s)
		if min, ok := schema["minLength"].(float64); ok && n < int(min) {
			bad("%q shorter than %v", s, min)
		}
		if max, ok := schema["maxLength"].(float64); ok && n > int(max) {
			bad("%q longer than %v", s, max)
		}
		if p, ok := schema["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(s) {
			bad("%q does not match %s", s, p)
		}
		switch schema["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				bad("%q is not a date-time", s)
			}
		case "uri":
			if u, err := url.Parse(s); err != nil || !u.IsAbs() {
				bad("%q is not an absolute URI", s)
			}
		}
	case "integer":
		if n, ok := v.(json.Number); !ok || strings.ContainsAny(n.String(), ".eE") {
			bad("%v, want integer", v)
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			bad("%v, want number", v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			bad("%T, want boolean", v)
		}
	}
	return problems
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestSchemaValidatorsRejectWrongShapes makes sure the validators above are
// not vacuous.
func TestSchemaValidatorsRejectWrongShapes(t *testing.T) {
	s := loadSpecs(t)
	op, ok := s.find(http.MethodGet, "/_twilio/conversations/v1/Conversations/CH00000000000000000000000000000000")
	if !ok || op.id != "FetchConversation" {
		t.Fatalf("find = %+v, %v", op.id, ok)
	}
	kin := newKinValidator(t)
	tests := []struct {
		name   string
		body   string
		kinToo bool // kin-openapi allows undeclared properties
	}{
		{"sid without CH prefix", `{"sid":"XX00000000000000000000000000000000"}`, true},
		{"date_created not a date-time", `{"date_created":"yesterday"}`, true},
		{"state not in the enum", `{"state":"exploded"}`, true},
		{"attributes not a string", `{"attributes":{"a":1}}`, true},
		{"undeclared property", `{"sid":"CH00000000000000000000000000000000","attrs":"{}"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := exchange{
				req:    httptest.NewRequest(http.MethodGet, "/_twilio/conversations/v1/Conversations/CH00000000000000000000000000000000", nil),
				status: http.StatusOK,
				header: http.Header{"Content-Type": {"application/json"}},
				body:   []byte(tt.body),
			}
			var body any
			dec := json.NewDecoder(bytes.NewReader(ex.body))
			dec.UseNumber()
			if err := dec.Decode(&body); err != nil {
				t.Fatal(err)
			}
			schema := op.op["responses"].(map[string]any)["200"].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
			if problems := (&schemaCheck{doc: op.spec}).check(schema, body, "$"); len(problems) == 0 {
				t.Error("schemaCheck accepted it")
			}
			if tt.kinToo {
				if err := kin.validate(op, ex); err == nil {
					t.Error("kin-openapi accepted it")
				}
			}
		})
	}
}
