package didcomm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/hyperledger/aries-framework-go/pkg/didcomm/dispatcher/inbound"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/transport"
	afgcontext "github.com/hyperledger/aries-framework-go/pkg/framework/context"
)

// Content types a DIDComm v1 HTTP transport accepts (RFC 0025). Parameters such as
// "; charset=utf-8" are allowed.
var inboundContentTypes = map[string]bool{
	"application/didcomm-envelope-enc": true,
	"application/ssi-agent-wire":       true,
	"application/json":                 true, // some wallets label envelopes so
}

// DefaultMaxMessageSize bounds an inbound DIDComm envelope.
const DefaultMaxMessageSize = 1 << 20

// Inbound is aries-framework-go's inbound transport served from our own HTTP server, instead
// of the library's (which binds its own port asynchronously and exits the process if the port
// is taken). Agent.Receive hands it one packed message at a time.
type Inbound struct {
	endpoint string
	maxSize  int64
	log      *slog.Logger

	// inflight maps the id of each message being handled to its HTTP request's context, so
	// that the protocol handling it (called by the framework, which carries no context) acts
	// under the request: a wallet that hangs up cancels the fetches its message caused.
	inflight sync.Map // message id → context.Context

	mu      sync.RWMutex
	prov    transport.Provider
	opener  *envelopeOpener                 // RFC 0019 envelopes; nil: the library's packager opens everything
	handler transport.InboundMessageHandler // nil: the framework's own
}

// DID lookups of inbound messages: the framework retries a sender it does not know yet (a
// wallet's first message can overtake the storing of its DID at the end of the DID exchange)
// every second, three times; a message then waited a whole second in about one run in six.
// Retrying every 25 ms for the same second in total costs nothing and removes the stall.
const (
	didLookupBackoff = 25 * time.Millisecond
	didLookupRetries = 40
)

type quickDIDLookup struct{ *afgcontext.Provider }

func (quickDIDLookup) GetDIDsBackOffDuration() time.Duration { return didLookupBackoff }
func (quickDIDLookup) GetDIDsMaxRetries() uint64             { return didLookupRetries }

// Attach makes the transport dispatch messages with its own copy of the framework's inbound
// message handler, identical but for quicker DID lookup retries. Call it once the framework
// is built (its context has every protocol service).
func (i *Inbound) Attach(ctx *afgcontext.Provider) {
	h := inbound.NewInboundMessageHandler(quickDIDLookup{ctx}).HandlerFunc()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.handler = h
}

var _ transport.InboundTransport = (*Inbound)(nil)

// NewInbound returns an inbound transport whose public endpoint is endpoint.
func NewInbound(endpoint string, maxSize int64, log *slog.Logger) *Inbound {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Inbound{endpoint: endpoint, maxSize: maxSize, log: log}
}

// Start is called by the framework with what the transport needs to unpack and dispatch.
func (i *Inbound) Start(prov transport.Provider) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.prov = prov
	return nil
}

// Stop makes the handler refuse further messages.
func (i *Inbound) Stop() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.prov = nil
	return nil
}

// openEnvelopesWith makes the transport open RFC 0019 envelopes itself (see envelope.go).
func (i *Inbound) openEnvelopesWith(o *envelopeOpener) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.opener = o
}

func unpack(prov transport.Provider, opener *envelopeOpener, body []byte) (*transport.Envelope, error) {
	if opener != nil {
		if env, handled, err := opener.open(body); handled {
			return env, err
		}
	}
	return prov.Packager().UnpackMessage(body)
}

// messageID returns a plaintext DIDComm message's id (v1 "@id", v2 "id"), or "".
func messageID(msg []byte) string {
	var m struct {
		V1 string `json:"@id"`
		V2 string `json:"id"`
	}
	if json.Unmarshal(msg, &m) != nil {
		return ""
	}
	if m.V1 != "" {
		return m.V1
	}
	return m.V2
}

// requestContext returns the context of the HTTP request carrying the message with id, while
// it is being handled.
func (i *Inbound) requestContext(id string) (context.Context, bool) {
	v, ok := i.inflight.Load(id)
	if !ok {
		return nil, false
	}
	return v.(context.Context), true
}

// Endpoint is the public URL wallets send to.
func (i *Inbound) Endpoint() string { return i.endpoint }

// Errors of Receive. Each says what the sender did wrong (or that the agent cannot take
// messages now); the HTTP layer maps them to statuses.
var (
	// ErrUnsupportedMediaType: the content type is not one of a DIDComm v1 envelope's.
	ErrUnsupportedMediaType = errors.New("unsupported content type: use application/didcomm-envelope-enc")
	// ErrTooLarge: the envelope exceeds the agent's maximum message size.
	ErrTooLarge = errors.New("message too large")
	// ErrUnreadable: empty, unreadable, malformed, or not addressed to this agent.
	ErrUnreadable = errors.New("cannot unpack message: not addressed to this agent or malformed")
	// ErrInFlight: a message with the same id is being processed; the sender may retry later.
	ErrInFlight = errors.New("a message with this id is being processed")
	// ErrNotProcessed: the message was opened but no protocol could process it.
	ErrNotProcessed = errors.New("message not processed")
	// ErrNotRunning: the agent is stopped (or not serving yet).
	ErrNotRunning = errors.New("agent is not running")
)

// receive takes one packed DIDComm message: it unpacks it and hands it to the framework's
// dispatcher under ctx, which the protocols answering the message use for everything they do
// (verification, DID resolution, status lists). It returns nil once the message is processed.
func (i *Inbound) receive(ctx context.Context, contentType string, body io.Reader) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !inboundContentTypes[mt] {
		return ErrUnsupportedMediaType
	}
	i.mu.RLock()
	prov, opener, handle := i.prov, i.opener, i.handler
	i.mu.RUnlock()
	if prov == nil {
		return ErrNotRunning
	}
	msg, err := io.ReadAll(io.LimitReader(body, i.maxSize+1))
	switch {
	case err != nil:
		return fmt.Errorf("%w: %w", ErrUnreadable, err)
	case int64(len(msg)) > i.maxSize:
		return ErrTooLarge
	case len(msg) == 0:
		return fmt.Errorf("%w: empty message", ErrUnreadable)
	}
	env, err := unpack(prov, opener, msg)
	if err != nil {
		i.log.Debug("didcomm: cannot unpack inbound message", "err", err)
		return ErrUnreadable
	}
	if handle == nil {
		handle = prov.InboundMessageHandler()
	}
	if id := messageID(env.Message); id != "" {
		if _, busy := i.inflight.LoadOrStore(id, ctx); busy {
			return ErrInFlight
		}
		defer i.inflight.Delete(id)
	}
	if err := handle(env); err != nil {
		i.log.Warn("didcomm: inbound message not processed", "err", err)
		return ErrNotProcessed
	}
	return nil
}

// StatusOf is the HTTP status RFC 0025's transport answers a Receive error with.
func StatusOf(err error) int {
	switch {
	case err == nil:
		return http.StatusAccepted
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnreadable):
		return http.StatusBadRequest
	case errors.Is(err, ErrInFlight):
		return http.StatusConflict
	case errors.Is(err, ErrNotProcessed):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrNotRunning):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// ServeHTTP serves the transport by itself, with plain-text refusals: for an agent with no
// HTTP surface of its own (the demo wallet). The service's API serves Agent.Serve's Receiver.
func (i *Inbound) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "DIDComm messages are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if err := i.receive(r.Context(), r.Header.Get("Content-Type"), r.Body); err != nil {
		http.Error(w, err.Error(), StatusOf(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
