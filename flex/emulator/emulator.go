// Package emulator is a local, in-memory emulator of the slice of Twilio's
// REST API the trust broker uses: Flex API v2 WebChats and the Conversations
// v1 resources a Flex web chat creates (conversations, participants,
// messages, users).
//
// It serves Twilio's own paths under /_twilio/{label}/… (label being the
// first label of the Twilio host: flex-api, conversations), takes the form
// bodies twilio-go sends, checks HTTP Basic auth like Twilio and answers with
// Twilio's JSON shapes, status codes and error bodies. Pointed at it through
// flex.BaseClient, the real twilio-go client works unchanged, so the whole
// flow runs offline in development and tests. URLs inside responses (url,
// links, paging) are Twilio's canonical https://….twilio.com ones, as Twilio
// returns them; flex.BaseClient maps them back to the emulator.
//
// The emulator records every request it receives (see Requests), so tests can
// prove what was, and was not, sent to "Twilio".
//
// It depends on the standard library only and must not import the product's
// packages. It is for development and tests: state lives in memory and is
// lost on restart, and it knows nothing of webhooks, TaskRouter or the
// Conversations client SDK.
package emulator

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// PathPrefix is where the emulator expects to be mounted: it serves
// PathPrefix + "{label}/…" and sees the full request path.
const PathPrefix = "/_twilio/"

// MaxRecordedRequests bounds the recording kept by an Emulator; older
// requests are dropped first.
const MaxRecordedRequests = 10000

// maxBodyBytes bounds request bodies, like Twilio's own request size limit.
const maxBodyBytes = 1 << 20

// Config holds the account the emulator pretends to be. Empty fields take
// the value of DevConfig.
type Config struct {
	AccountSID              string // AC…; with AuthToken, one accepted Basic-auth pair
	AuthToken               string
	APIKeySID               string // SK…; with APIKeySecret, the other accepted pair
	APIKeySecret            string
	AddressSID              string // IG…; the only Flex web chat address that exists
	ConversationsServiceSID string // IS…; the service conversations and users belong to
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
	}
}

// Request is one request the emulator received.
type Request struct {
	Time     time.Time
	Method   string
	Path     string     // the full path, e.g. /_twilio/flex-api/v2/WebChats
	Query    url.Values // the parsed query string
	Form     url.Values // the parsed body when it was application/x-www-form-urlencoded, else nil
	Body     []byte     // the raw body (at most 1 MiB)
	AuthUser string     // the Basic-auth user name (an AC… or SK… SID); the password is never kept
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

// Emulator is an http.Handler emulating Twilio. It is safe for concurrent
// use; all state is in memory, guarded by one mutex.
type Emulator struct {
	cfg Config
	mux *http.ServeMux
	now func() time.Time

	channelRoleSID string // RL… given to participants, like a service's default channel role
	serviceRoleSID string // RL… given to users, like a service's default service role

	mu            sync.Mutex
	conversations map[string]*conversation // by SID
	convOrder     []*conversation          // in creation order
	users         map[string]*user         // by SID
	usersByID     map[string]*user         // by identity
	recorded      []Request                // ring buffer of at most MaxRecordedRequests
	recordedNext  int                      // where the next request goes once recorded is full
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

	e := &Emulator{
		cfg:            cfg,
		now:            func() time.Time { return time.Now().UTC().Truncate(time.Second) },
		channelRoleSID: newSID("RL"),
		serviceRoleSID: newSID("RL"),
		conversations:  map[string]*conversation{},
		users:          map[string]*user{},
		usersByID:      map[string]*user{},
	}
	e.routes()
	return e
}

func (e *Emulator) routes() {
	m := http.NewServeMux()
	const conv = PathPrefix + "conversations/v1"
	m.HandleFunc("POST "+PathPrefix+"flex-api/v2/WebChats", e.createWebChat)
	m.HandleFunc("GET "+conv+"/Conversations", e.listConversations)
	m.HandleFunc("GET "+conv+"/Conversations/{sid}", e.fetchConversation)
	m.HandleFunc("POST "+conv+"/Conversations/{sid}", e.updateConversation)
	m.HandleFunc("GET "+conv+"/Conversations/{sid}/Participants", e.listParticipants)
	m.HandleFunc("GET "+conv+"/Conversations/{sid}/Messages", e.listMessages)
	m.HandleFunc("POST "+conv+"/Conversations/{sid}/Messages", e.createMessage)
	m.HandleFunc("GET "+conv+"/Users/{sid}", e.fetchUser)
	m.HandleFunc("/", notFound)
	e.mux = m
}

// ServeHTTP records the request, checks its credentials like Twilio and
// serves it.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Twilio-Request-Id", newSID("RQ"))

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, 20001, "Request body too large")
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	user, pass, hasAuth := r.BasicAuth()

	rec := Request{
		Time:     time.Now(),
		Method:   r.Method,
		Path:     r.URL.Path,
		Query:    r.URL.Query(),
		Body:     body,
		AuthUser: user,
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
		if form, err := url.ParseQuery(string(body)); err == nil {
			rec.Form = form
		}
	}
	e.record(rec)

	if !hasAuth || !e.authenticated(user, pass) {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	e.mux.ServeHTTP(w, r)
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
// last MaxRecordedRequests. The result is a copy.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Request, 0, len(e.recorded))
	for i := range e.recorded {
		out = append(out, e.recorded[(e.recordedNext+i)%len(e.recorded)].clone())
	}
	return out
}

// newSID returns prefix followed by 32 random hex digits, like Twilio's SIDs.
func newSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return prefix + hex.EncodeToString(b[:])
}
