package flex

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twilio/twilio-go/client"
)

// Webhook headers Twilio sends.
const (
	SignatureHeader        = "X-Twilio-Signature"
	IdempotencyTokenHeader = "I-Twilio-Idempotency-Token"
)

// MaxWebhookBody bounds the webhook bodies Verify reads.
const MaxWebhookBody = 1 << 20

// ErrWebhookRejected is matched (errors.Is) by the errors of
// WebhookVerifier.Verify that say the request is not a genuine Twilio
// webhook. Answer 403.
var ErrWebhookRejected = errors.New("flex: webhook rejected")

// ErrWebhookDuplicate is matched by Verify's error for a genuine delivery
// already accepted (Twilio retrying after a lost answer, or a replay): do
// not process it again, and acknowledge it (200) so that Twilio stops.
var ErrWebhookDuplicate = errors.New("flex: webhook already accepted")

// ErrWebhookUnavailable is matched by Verify's error when the replay guard
// cannot say whether a genuine delivery is new: answer 503, so that Twilio
// delivers it again later.
var ErrWebhookUnavailable = errors.New("flex: webhook replay guard unavailable")

// ErrWebhookPayload is matched by the errors of ParseWebhook: the request was
// genuine but its payload is not one this package understands. Answer 400.
var ErrWebhookPayload = errors.New("flex: webhook payload not understood")

// WebhookError says why Verify did not accept a request. It matches
// ErrWebhookDuplicate (Reason replayed), ErrWebhookUnavailable (Reason
// guard_unavailable) or else ErrWebhookRejected.
type WebhookError struct {
	// Reason is stable, for logs and metrics: missing_signature,
	// bad_signature, unreadable_body, replayed, guard_unavailable.
	Reason string
	// Err is the replay guard's failure, for guard_unavailable.
	Err error
}

func (e *WebhookError) Error() string {
	switch e.Reason {
	case "replayed":
		return "flex: webhook already accepted: replayed"
	case "guard_unavailable":
		return fmt.Sprintf("flex: webhook replay guard unavailable: %v", e.Err)
	}
	return "flex: webhook rejected: " + e.Reason
}

func (e *WebhookError) Unwrap() error { return e.Err }

func (e *WebhookError) Is(target error) bool {
	switch e.Reason {
	case "replayed":
		return target == ErrWebhookDuplicate
	case "guard_unavailable":
		return target == ErrWebhookUnavailable
	}
	return target == ErrWebhookRejected
}

// ReplayGuard remembers the webhook deliveries already accepted.
// Implementations must be safe for concurrent use. Give every instance of a
// multi-instance deployment the same shared guard (e.g. Redis SET NX PX) so
// that a delivery accepted by one is a duplicate for all.
type ReplayGuard interface {
	// FirstSeen records key, forgotten after ttl, and reports whether it
	// was new. An error means the guard cannot tell (its store is down).
	FirstSeen(ctx context.Context, key string, now time.Time, ttl time.Duration) (bool, error)
	// Forget drops key: the delivery will be accepted again.
	Forget(ctx context.Context, key string) error
}

// WebhookConfig configures a WebhookVerifier.
type WebhookConfig struct {
	// AuthToken is the account's (primary) Auth Token, which Twilio signs
	// webhooks with. Required.
	AuthToken string
	// PublicURL is the base URL Twilio is configured to call, as Twilio sees
	// it (behind proxies, the public one), e.g. "https://broker.example.com".
	// A request's signed URL is PublicURL + its path and query as received.
	// Required.
	PublicURL string
	// ReplayWindow is how long a delivery is remembered to refuse a replay
	// (default 15 minutes). A delivery is remembered by its signature only.
	// Twilio's own retries of a delivery carry a new RetryCount, hence a new
	// signature, and are not replays.
	ReplayWindow time.Duration
	// MaxRemembered bounds the in-memory guard (default 100000); the oldest
	// entries are forgotten first.
	MaxRemembered int
	// Replay, when set, replaces the in-memory guard.
	Replay ReplayGuard
}

// WebhookVerifier verifies Twilio webhooks: X-Twilio-Signature with the
// account's Auth Token over the public URL and the parameters, and no
// replay. It is safe for concurrent use.
type WebhookVerifier struct {
	validator client.RequestValidator
	base      string
	window    time.Duration
	guard     ReplayGuard
}

// NewWebhookVerifier checks cfg and returns a verifier.
func NewWebhookVerifier(cfg WebhookConfig) (*WebhookVerifier, error) {
	if !validSecret(cfg.AuthToken) {
		return nil, errors.New("flex: webhooks: AuthToken is missing or malformed (Twilio signs webhooks with the account's Auth Token)")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("flex: webhooks: PublicURL %q is not an http(s) base URL", cfg.PublicURL)
	}
	if cfg.ReplayWindow <= 0 {
		cfg.ReplayWindow = 15 * time.Minute
	}
	if cfg.MaxRemembered <= 0 {
		cfg.MaxRemembered = 100000
	}
	guard := cfg.Replay
	if guard == nil {
		guard = newMemoryGuard(cfg.MaxRemembered)
	}
	return &WebhookVerifier{
		validator: client.NewRequestValidator(cfg.AuthToken),
		base:      strings.TrimSuffix(cfg.PublicURL, "/"),
		window:    cfg.ReplayWindow,
		guard:     guard,
	}, nil
}

// Verify checks that r is a genuine Twilio webhook not seen before, records
// it as seen (see Release), and returns its body (r.Body is replaced by a
// reader of the same bytes). Every error is a *WebhookError and matches
// ErrWebhookRejected, ErrWebhookDuplicate or ErrWebhookUnavailable. The
// replay guard is asked under r's context.
//
// The signed URL is PublicURL + r.URL.RequestURI(): Twilio signs the URL it
// called, not what a proxy forwards. A form body is signed with all values
// of each parameter, as Twilio does; twilio-go's RequestValidator.ValidateBody
// signs only the first value of a repeated parameter, so a value appended to
// a genuine request would pass it unsigned: Verify refuses it. A JSON (or
// any non-form) body is signed through the bodySHA256 query parameter,
// which must match the body's SHA-256. A replay is the same signature within
// the replay window, whatever its I-Twilio-Idempotency-Token: that header is
// not signed. Two deliveries whose signed URL and parameters are identical
// are one delivery.
func (v *WebhookVerifier) Verify(r *http.Request, now time.Time) ([]byte, error) {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return nil, &WebhookError{Reason: "missing_signature"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxWebhookBody+1))
	if err != nil || len(body) > MaxWebhookBody {
		return nil, &WebhookError{Reason: "unreadable_body"}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !v.valid(v.base+r.URL.RequestURI(), r.Method, r.Header.Get("Content-Type"), body, sig) {
		return nil, &WebhookError{Reason: "bad_signature"}
	}
	// The replay key is what Twilio signs, through the signature that just
	// proved it: never an unsigned header such as I-Twilio-Idempotency-Token,
	// which anyone replaying a captured delivery can change. The validator
	// compares the signature as a string, so a valid one has one spelling.
	fresh, err := v.guard.FirstSeen(r.Context(), replayKey(sig), now, v.window)
	if err != nil {
		return nil, &WebhookError{Reason: "guard_unavailable", Err: err}
	}
	if !fresh {
		return nil, &WebhookError{Reason: "replayed"}
	}
	return body, nil
}

// Release forgets that Verify accepted r, for when processing it failed:
// Twilio's next delivery of it is then accepted and processed, not
// acknowledged as a duplicate. Call it only for a request Verify accepted.
func (v *WebhookVerifier) Release(r *http.Request) error {
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		return nil
	}
	return v.guard.Forget(r.Context(), replayKey(sig))
}

// replayKey is the replay guard's key of a delivery signed sig.
func replayKey(sig string) string {
	key := sha256.Sum256([]byte(sig))
	return hex.EncodeToString(key[:])
}

func (v *WebhookVerifier) valid(fullURL, method, contentType string, body []byte, sig string) bool {
	u, err := url.Parse(fullURL)
	if err != nil {
		return false
	}
	if u.Query().Has("bodySHA256") {
		// The URL, query included, is signed without parameters; the body
		// is bound by its hash.
		return v.validator.ValidateBody(fullURL, body, sig)
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	if method == http.MethodGet || len(body) == 0 && ct == "" {
		return v.validator.Validate(fullURL, map[string]string{}, sig)
	}
	if ct != "application/x-www-form-urlencoded" {
		return false // a JSON body must come with bodySHA256
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return false
	}
	return v.validator.Validate(fullURL, signingParams(form), sig)
}

// signingParams folds form into the one-value-per-key map RequestValidator
// takes, so that it signs what Twilio signs: for each key in order, key+value
// for each distinct value in order. RequestValidator appends key+value per
// key, so a repeated key's values v1, v2 become the single value v1+key+v2.
func signingParams(form url.Values) map[string]string {
	params := make(map[string]string, len(form))
	for k, vs := range form {
		vs = slices.Clone(vs)
		sort.Strings(vs)
		vs = slices.Compact(vs)
		params[k] = strings.Join(vs, k)
	}
	return params
}

// SignWebhook returns the X-Twilio-Signature Twilio would send with a form
// webhook of params to fullURL, signed with authToken. For tests and
// tools; a JSON webhook is signed with SignWebhookJSON.
func SignWebhook(authToken, fullURL string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	data := fullURL
	for _, k := range keys {
		vs := slices.Clone(params[k])
		sort.Strings(vs)
		for _, v := range slices.Compact(vs) {
			data += k + v
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(data))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignWebhookJSON returns the URL Twilio would call with a JSON body (fullURL
// with bodySHA256 added to its query) and the X-Twilio-Signature for it.
func SignWebhookJSON(authToken, fullURL string, body []byte) (signedURL, signature string) {
	sum := sha256.Sum256(body)
	sep := "?"
	if strings.Contains(fullURL, "?") {
		sep = "&"
	}
	signedURL = fullURL + sep + "bodySHA256=" + hex.EncodeToString(sum[:])
	return signedURL, SignWebhook(authToken, signedURL, nil)
}

// memoryGuard is the in-memory ReplayGuard: keys with their expiry, in
// insertion order, at most max of them.
type memoryGuard struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time
	order []guardEntry
}

type guardEntry struct {
	key string
	exp time.Time
}

func newMemoryGuard(max int) *memoryGuard {
	return &memoryGuard{max: max, seen: map[string]time.Time{}}
}

func (g *memoryGuard) FirstSeen(_ context.Context, key string, now time.Time, ttl time.Duration) (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forget(func(e guardEntry) bool { return !now.Before(e.exp) }) // what expired
	if exp, ok := g.seen[key]; ok && now.Before(exp) {
		return false, nil
	}
	g.forget(func(guardEntry) bool { return len(g.seen) >= g.max }) // the oldest, while full
	exp := now.Add(ttl)
	g.seen[key] = exp
	g.order = append(g.order, guardEntry{key: key, exp: exp})
	return true, nil
}

func (g *memoryGuard) Forget(_ context.Context, key string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.seen, key) // its entry in order is skipped when it comes up
	return nil
}

// forget drops entries from the oldest while drop says so.
func (g *memoryGuard) forget(drop func(guardEntry) bool) {
	for len(g.order) > 0 && drop(g.order[0]) {
		e := g.order[0]
		if exp, ok := g.seen[e.key]; ok && exp.Equal(e.exp) {
			delete(g.seen, e.key)
		}
		g.order = g.order[1:]
	}
}

// WebhookEvent is what the service needs from a Twilio webhook about a chat.
type WebhookEvent struct {
	// Type is Twilio's EventType: onConversationStateUpdated,
	// onConversationUpdated, onConversationRemoved (Conversations),
	// onChannelUpdated, onChannelDestroyed (Programmable Chat), or another
	// event this package passes through without reading.
	Type       string
	AccountSID string
	// ConversationSID is set by Conversations webhooks, ChannelSID by
	// Programmable Chat (Flex Flow) webhooks.
	ConversationSID string
	ChannelSID      string
	// State is the chat's state after the event when the event says it:
	// active, inactive or closed (a Flex channel's INACTIVE is "closed").
	State string
	// Closed reports that the chat is over: closed, removed or destroyed.
	Closed bool
}

// ChatSID is ConversationSID or ChannelSID, whichever is set.
func (e WebhookEvent) ChatSID() string {
	if e.ConversationSID != "" {
		return e.ConversationSID
	}
	return e.ChannelSID
}

// ParseWebhook reads a verified webhook body (form-encoded, or a JSON object
// of the same parameters). Chat events without the chat's SID, and bodies
// without an EventType, are errors matching ErrWebhookPayload; other events
// come back with only Type and AccountSID.
func ParseWebhook(contentType string, body []byte) (WebhookEvent, error) {
	bad := func(format string, args ...any) (WebhookEvent, error) {
		return WebhookEvent{}, fmt.Errorf("%w: %s", ErrWebhookPayload, fmt.Sprintf(format, args...))
	}
	get, err := webhookParams(contentType, body)
	if err != nil {
		return bad("%v", err)
	}
	ev := WebhookEvent{Type: get("EventType"), AccountSID: get("AccountSid")}
	conversation := func() error {
		ev.ConversationSID = get("ConversationSid")
		if !validSID(ev.ConversationSID, "CH") {
			return fmt.Errorf("%s without a valid ConversationSid", ev.Type)
		}
		return nil
	}
	channel := func() error {
		ev.ChannelSID = get("ChannelSid")
		if !validSID(ev.ChannelSID, "CH") {
			return fmt.Errorf("%s without a valid ChannelSid", ev.Type)
		}
		return nil
	}
	switch ev.Type {
	case "":
		return bad("no EventType")
	case "onConversationStateUpdated":
		if err := conversation(); err != nil {
			return bad("%v", err)
		}
		ev.State = get("StateTo")
	case "onConversationUpdated", "onConversationAdded":
		if err := conversation(); err != nil {
			return bad("%v", err)
		}
		ev.State = get("State")
	case "onConversationRemoved":
		if err := conversation(); err != nil {
			return bad("%v", err)
		}
		ev.State, ev.Closed = "closed", true
	case "onChannelUpdated":
		if err := channel(); err != nil {
			return bad("%v", err)
		}
		var attrs struct {
			Status string `json:"status"`
		}
		if raw := get("Attributes"); raw != "" {
			if err := json.Unmarshal([]byte(raw), &attrs); err != nil {
				return bad("onChannelUpdated Attributes are not a JSON object")
			}
		}
		switch strings.ToUpper(attrs.Status) {
		case "INACTIVE":
			ev.State = "closed"
		case "ACTIVE":
			ev.State = "active"
		}
	case "onChannelDestroyed":
		if err := channel(); err != nil {
			return bad("%v", err)
		}
		ev.State, ev.Closed = "closed", true
	default:
		return ev, nil
	}
	if ev.State == "closed" {
		ev.Closed = true
	}
	return ev, nil
}

// webhookParams returns a reader of the single value of each parameter;
// a repeated parameter is an error (no event of interest repeats one).
func webhookParams(contentType string, body []byte) (func(string) string, error) {
	ct, _, _ := mime.ParseMediaType(contentType)
	switch ct {
	case "application/json":
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			return nil, errors.New("body is not a JSON object")
		}
		return func(k string) string {
			switch v := obj[k].(type) {
			case string:
				return v
			case nil:
				return ""
			default: // e.g. Attributes sent as an object
				b, _ := json.Marshal(v)
				return string(b)
			}
		}, nil
	case "application/x-www-form-urlencoded", "":
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errors.New("body is not form-encoded")
		}
		for k, vs := range form {
			if len(vs) > 1 {
				return nil, fmt.Errorf("parameter %q repeated", k)
			}
		}
		return form.Get, nil
	default:
		return nil, fmt.Errorf("unsupported content type %q", ct)
	}
}
