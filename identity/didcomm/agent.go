// Package didcomm is the service's DIDComm v1 agent, built on aries-framework-go v0.3.0 and
// contained here: out-of-band invitations (RFC 0434) with DID Exchange (RFC 0023), the
// verifier's side of present-proof 2.0 (RFC 0454) with DIF Presentation Exchange (RFC 0510),
// and an inbound HTTP transport served from the service's own HTTP server.
//
// It follows the RFCs rather than the library's habits where they differ (see exchange.go,
// verifier.go, unhandled.go, envelope.go and diddoc.go), because customers' wallets are mostly
// not aries-framework-go: rfc_interop_test.go checks it against a holder written from the RFCs
// (internal/rfcholder) that shares no DIDComm code with the library.
//
// didcomm knows nothing of sessions: it reports connections, presentations and problem
// reports to the Handler that Agent.Serve is given, answers each presentation with the
// handler's Verdict (an ack or a problem report), and hands messages to the protocols under
// their HTTP request's context (Receiver.Receive). It must not import broker, api or flex.
package didcomm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/pkg/client/didexchange"
	"github.com/hyperledger/aries-framework-go/pkg/client/outofband"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/dispatcher"
	didexsvc "github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/didexchange"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/transport"
	arieshttp "github.com/hyperledger/aries-framework-go/pkg/didcomm/transport/http"
	"github.com/hyperledger/aries-framework-go/pkg/doc/did"
	"github.com/hyperledger/aries-framework-go/pkg/framework/aries"
	"github.com/hyperledger/aries-framework-go/pkg/framework/aries/api"
	vdrapi "github.com/hyperledger/aries-framework-go/pkg/framework/aries/api/vdr"
	afgcontext "github.com/hyperledger/aries-framework-go/pkg/framework/context"
	"github.com/hyperledger/aries-framework-go/pkg/kms"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock"
	"github.com/hyperledger/aries-framework-go/pkg/store/connection"
	"github.com/hyperledger/aries-framework-go/spi/storage"
	"github.com/piprate/json-gold/ld"

	"github.com/hearro/trustbroker/identity/confirm"
)

// Config configures an Agent.
type Config struct {
	// Endpoint is the public URL wallets POST DIDComm messages to (…/didcomm).
	Endpoint string
	// Label is the name wallets show for this service.
	Label string
	// Storage holds the agent's state: connections, DID documents, keys. A shared store lets
	// any replica handle any message.
	Storage storage.Provider
	// SecretLock encrypts the agent's private keys at rest. Required.
	SecretLock secretlock.Service
	// Loader serves JSON-LD contexts (embedded only).
	Loader ld.DocumentLoader
	// HTTPClient sends outbound messages; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
	// MaxMessageSize bounds inbound envelopes; 0: DefaultMaxMessageSize.
	MaxMessageSize int64
	// Logger receives the agent's own logs; nil discards them.
	Logger *slog.Logger
}

// Handler receives what happens on the agent's connections. Calls may arrive concurrently.
type Handler interface {
	// Connected: a DID exchange started by one of our invitations completed.
	Connected(ctx context.Context, c Connection)
	// PresentationReceived: a wallet sent a presentation on a thread we started. It runs
	// under the wallet's request's context; the agent answers the wallet from the verdict
	// (an ack, or a problem report with the verdict's code).
	PresentationReceived(ctx context.Context, p ReceivedPresentation) Verdict
	// ProblemReported: a wallet sent a present-proof problem report (e.g. it declined).
	ProblemReported(ctx context.Context, p ReceivedProblem)
}

// Verdict is a handler's answer to a presentation: accepted, or refused with a code and a
// sentence the wallet is told.
type Verdict struct {
	Accepted bool
	Code     string
	Explain  string
}

// Connection is a completed DIDComm connection.
type Connection struct {
	ConnectionID string
	// InvitationID is the out-of-band invitation the wallet answered.
	InvitationID string
	TheirDID     string
	TheirLabel   string
}

// ReceivedPresentation is a wallet's answer to a presentation request.
type ReceivedPresentation struct {
	Peer
	// Presentation is the verifiable presentation (the DIF submission attachment).
	Presentation []byte
}

// ReceivedProblem is a problem report from a wallet.
type ReceivedProblem struct {
	Peer
	Code    string
	Explain string
}

// Invitation is an RFC 0434 out-of-band invitation.
type Invitation struct {
	ID string
	// JSON is the invitation message.
	JSON json.RawMessage
}

// URL returns the invitation in RFC 0434's URL form: base?oob=<base64url(JSON)>.
func (i Invitation) URL(base string) string {
	return base + "?oob=" + base64.RawURLEncoding.EncodeToString(i.JSON)
}

// GoalCodeVerifyIdentity is the goal_code of the service's invitations.
const GoalCodeVerifyIdentity = "hearro.verify-identity"

// PresentationRequest is what the verifier asks a wallet to prove.
type PresentationRequest struct {
	// Comment is the human-readable text of the request; ConfirmationCode, if set, is
	// appended to it as confirm.Text(ConfirmationCode) for the wallet to show.
	Comment          string
	ConfirmationCode string
	Definition       map[string]any
	Challenge        string
	Domain           string
}

// Agent is the service's DIDComm agent. It is safe for concurrent use.
type Agent struct {
	cfg       Config
	log       *slog.Logger
	framework *aries.Aries
	inbound   *Inbound
	oob       *outofband.Client
	exchange  *didexchange.Client
	outbound  dispatcher.Outbound
	lookup    *connection.Lookup
	vdr       vdrapi.Registry
	keys      invitationKeys

	h atomic.Pointer[Handler] // set once, by Serve
	// base is the context of the agent's own work, what outlives a wallet's request.
	base context.Context

	// The framework's event channels are never closed: it may be sending on them while it is
	// told to stop. Their readers (wg) drain them until the framework is closed (quit); the
	// Connected handlers they start (handlers) are not started once stopping is set.
	actions   chan service.DIDCommAction
	states    chan service.StateMsg
	quit      chan struct{}
	wg        sync.WaitGroup
	smu       sync.Mutex
	stopping  bool
	handlers  sync.WaitGroup
	closeOnce sync.Once
}

// New starts a verifier agent. Nothing reaches it until Serve names who handles what
// wallets send.
func New(cfg Config) (*Agent, error) {
	if cfg.Endpoint == "" || cfg.Storage == nil || cfg.SecretLock == nil || cfg.Loader == nil {
		return nil, errors.New("didcomm: endpoint, storage, secret lock and loader are required")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	keyStore, err := cfg.Storage.OpenStore("hearro_invitation_keys")
	if err != nil {
		return nil, fmt.Errorf("didcomm: %w", err)
	}
	out, err := arieshttp.NewOutbound(arieshttp.WithOutboundHTTPClient(cfg.HTTPClient))
	if err != nil {
		return nil, fmt.Errorf("didcomm: outbound transport: %w", err)
	}
	a := &Agent{cfg: cfg, log: log, inbound: NewInbound(cfg.Endpoint, cfg.MaxMessageSize, log), keys: invitationKeys{keyStore},
		base: context.Background()}
	verifier := api.ProtocolSvcCreator{
		Create: func(api.Provider) (dispatcher.ProtocolService, error) { return &verifierProtocol{agent: a}, nil },
	}
	a.framework, err = aries.New(
		aries.WithStoreProvider(cfg.Storage),
		aries.WithProtocolStateStoreProvider(cfg.Storage),
		aries.WithInboundTransport(a.inbound),
		aries.WithOutboundTransports(out),
		aries.WithSecretLock(cfg.SecretLock),
		aries.WithJSONLDDocumentLoader(cfg.Loader),
		aries.WithMediaTypeProfiles([]string{transport.MediaTypeAIP2RFC0019Profile}),
		aries.WithKeyType(kms.ED25519Type),
		aries.WithKeyAgreementType(kms.X25519ECDHKWType),
		aries.WithProtocols(signedExchange(a.keys), verifier),
		aries.WithMessageServiceProvider(messageServices{list: []dispatcher.MessageService{unhandled{agent: a}}}),
	)
	if err != nil {
		return nil, fmt.Errorf("didcomm: start agent: %w", err)
	}
	ctx, err := a.framework.Context()
	if err != nil {
		return nil, a.closeAfter(fmt.Errorf("didcomm: agent context: %w", err))
	}
	a.outbound = ctx.OutboundDispatcher()
	opener, err := newEnvelopeOpener(ctx.KMS())
	if err != nil {
		return nil, a.closeAfter(fmt.Errorf("didcomm: envelopes: %w", err))
	}
	a.inbound.openEnvelopesWith(opener)
	a.inbound.Attach(ctx)
	if a.oob, err = outofband.New(ctx); err != nil {
		return nil, a.closeAfter(fmt.Errorf("didcomm: out-of-band: %w", err))
	}
	if a.exchange, err = didexchange.New(ctx); err != nil {
		return nil, a.closeAfter(fmt.Errorf("didcomm: did exchange: %w", err))
	}
	if a.lookup, err = connection.NewLookup(ctx); err != nil {
		return nil, a.closeAfter(fmt.Errorf("didcomm: connections: %w", err))
	}
	a.vdr = ctx.VDRegistry()
	if err := a.listen(ctx); err != nil {
		return nil, a.closeAfter(err)
	}
	return a, nil
}

// Serve starts handing what wallets send to h, and returns the Receiver that takes their
// messages (served at Config.Endpoint). Call it once: messages reach the agent only through
// the Receiver it returns, so none arrives before there is a handler.
func (a *Agent) Serve(h Handler) Receiver {
	if h == nil || !a.h.CompareAndSwap(nil, &h) {
		panic("didcomm: Serve needs a handler and is called once")
	}
	return Receiver{inbound: a.inbound}
}

// handler is Serve's handler; messages reach the agent only after Serve.
func (a *Agent) handler() Handler { return *a.h.Load() }

// Receiver takes wallets' DIDComm messages for an agent (Agent.Serve).
type Receiver struct{ inbound *Inbound }

// Receive takes one packed DIDComm message (RFC 0025's HTTP transport: the body of a POST
// with its content type) and processes it under ctx, the request's: the protocol answering
// it verifies, resolves and fetches under ctx, so a sender that hangs up cancels that work.
// It returns nil once the message is processed, or an error matching one of ErrUnsupportedMediaType,
// ErrTooLarge, ErrUnreadable, ErrInFlight, ErrNotProcessed, ErrNotRunning.
func (r Receiver) Receive(ctx context.Context, contentType string, body io.Reader) error {
	return r.inbound.receive(ctx, contentType, body)
}

// ServeHTTP serves Receive over HTTP by itself, with plain-text refusals (Inbound.ServeHTTP).
func (r Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) { r.inbound.ServeHTTP(w, req) }

// listen registers the framework's event channels, each with its own reader: the framework
// delivers events synchronously and stalls if nobody reads.
func (a *Agent) listen(_ *afgcontext.Provider) error {
	a.actions = make(chan service.DIDCommAction)
	a.states = make(chan service.StateMsg)
	a.quit = make(chan struct{})
	if err := a.exchange.RegisterActionEvent(a.actions); err != nil {
		return fmt.Errorf("didcomm: %w", err)
	}
	if err := a.exchange.RegisterMsgEvent(a.states); err != nil {
		return fmt.Errorf("didcomm: %w", err)
	}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		for {
			select {
			case act := <-a.actions:
				// Requests answer invitations we made (the exchange refuses unknown ones).
				act.Continue(nil)
			case <-a.quit:
				return
			}
		}
	}()
	go func() {
		defer a.wg.Done()
		for {
			var st service.StateMsg
			select {
			case st = <-a.states:
			case <-a.quit:
				return
			}
			if st.Type != service.PostState || st.StateID != didexsvc.StateIDCompleted {
				continue
			}
			ev, ok := st.Properties.(didexchange.Event)
			if !ok {
				continue
			}
			rec, err := a.lookup.GetConnectionRecord(ev.ConnectionID())
			if err != nil {
				a.log.Error("didcomm: completed connection not found", "connection_id", ev.ConnectionID(), "err", err)
				continue
			}
			if rec.Namespace != connection.TheirNSPrefix {
				continue // we were the invitee: not a wallet answering our invitation
			}
			c := Connection{ConnectionID: rec.ConnectionID, InvitationID: rec.InvitationID, TheirDID: rec.TheirDID, TheirLabel: rec.TheirLabel}
			a.smu.Lock()
			if a.stopping {
				a.smu.Unlock()
				continue
			}
			a.handlers.Add(1)
			a.smu.Unlock()
			h := a.h.Load()
			if h == nil {
				a.handlers.Done()
				a.log.Error("didcomm: connection completed before Serve", "connection_id", c.ConnectionID)
				continue
			}
			ctx, cancel := a.connectedContext(st.Msg)
			go func() {
				defer a.handlers.Done()
				defer cancel()
				(*h).Connected(ctx, c)
			}()
		}
	}()
	return nil
}

// connectedContext is the context a Connected handler runs under: the values (request id, trace)
// of the request that carried the wallet's last DID exchange message, without its
// cancellation (the handler runs after the framework processed the message, when the wallet's
// request may have been answered already), bounded by connectedTimeout. Without that request
// (it ended before the event came), the agent's own.
func (a *Agent) connectedContext(msg service.DIDCommMsg) (context.Context, context.CancelFunc) {
	parent := a.base
	if msg != nil {
		if rctx, ok := a.inbound.requestContext(msg.ID()); ok {
			parent = context.WithoutCancel(rctx)
		}
	}
	return context.WithTimeout(parent, connectedTimeout)
}

// connectedTimeout bounds a Connected handler: a store transition and one message to send.
const connectedTimeout = 30 * time.Second

// CreateInvitation makes an out-of-band invitation whose handshake is DID Exchange 1.0. Its
// goal is goal followed, if confirmationCode is not empty, by confirm.Text(confirmationCode),
// for the wallet to show; a code that is not a valid confirmation code is refused with an
// error matching confirm.ErrInvalid.
func (a *Agent) CreateInvitation(_ context.Context, goal, confirmationCode string) (Invitation, error) {
	if confirmationCode != "" && !confirm.Valid(confirmationCode) {
		return Invitation{}, fmt.Errorf("create invitation: %w", confirm.ErrInvalid)
	}
	inv, err := a.oob.CreateInvitation(nil,
		outofband.WithLabel(a.cfg.Label),
		outofband.WithGoal(confirm.With(goal, confirmationCode), GoalCodeVerifyIdentity),
		outofband.WithHandshakeProtocols(didexsvc.PIURI),
		outofband.WithAccept(transport.MediaTypeAIP2RFC0019Profile),
	)
	if err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	if len(inv.Services) != 1 {
		return Invitation{}, fmt.Errorf("create invitation: %d services, want 1", len(inv.Services))
	}
	svc, ok := inv.Services[0].(*did.Service)
	if !ok || len(svc.RecipientKeys) != 1 {
		return Invitation{}, fmt.Errorf("create invitation: unexpected service block %T", inv.Services[0])
	}
	if err := a.keys.put(inv.ID, svc.RecipientKeys[0]); err != nil {
		return Invitation{}, fmt.Errorf("create invitation: %w", err)
	}
	b, err := json.Marshal(inv)
	if err != nil {
		return Invitation{}, err
	}
	return Invitation{ID: inv.ID, JSON: b}, nil
}

// RequestPresentation sends a present-proof 2.0 request-presentation on a connection. Its
// message id, which becomes the thread id, is threadID (callers record it before the answer can
// arrive), or a fresh one if empty.
func (a *Agent) RequestPresentation(_ context.Context, connectionID, threadID string, req PresentationRequest) (Peer, error) {
	if req.ConfirmationCode != "" && !confirm.Valid(req.ConfirmationCode) {
		return Peer{}, fmt.Errorf("request presentation: %w", confirm.ErrInvalid)
	}
	if threadID == "" {
		threadID = uuid.NewString()
	}
	rec, err := a.lookup.GetConnectionRecord(connectionID)
	if err != nil {
		return Peer{}, fmt.Errorf("request presentation: connection %s: %w", connectionID, err)
	}
	def, err := json.Marshal(req.Definition)
	if err != nil {
		return Peer{}, fmt.Errorf("request presentation: definition: %w", err)
	}
	pd, err := json.Marshal(PEPayload{
		Options:                PEOptions{Challenge: req.Challenge, Domain: req.Domain},
		PresentationDefinition: def,
	})
	if err != nil {
		return Peer{}, err
	}
	msg, err := messageMap(RequestPresentationV2{
		ID:          threadID,
		Type:        TypeRequestPresV2,
		Comment:     confirm.With(req.Comment, req.ConfirmationCode),
		WillConfirm: true,
		Formats:     []Format{{AttachID: "definition", Format: FormatPEDefinition}},
		Attachments: []Attachment{{ID: "definition", MimeType: "application/json", Data: AttachmentData{JSON: pd}}},
	})
	if err != nil {
		return Peer{}, fmt.Errorf("request presentation: %w", err)
	}
	peer := Peer{ThreadID: threadID, ConnectionID: rec.ConnectionID, MyDID: rec.MyDID, TheirDID: rec.TheirDID}
	if err := a.outbound.SendToDID(msg, rec.MyDID, rec.TheirDID); err != nil {
		return peer, fmt.Errorf("request presentation: %w", err)
	}
	return peer, nil
}

// Acknowledge tells the wallet its presentation was accepted (present-proof 2.0 ack).
func (a *Agent) Acknowledge(_ context.Context, peer Peer) error {
	msg, err := messageMap(Ack{ID: uuid.NewString(), Type: TypePresAckV2, Thread: &Thread{ID: peer.ThreadID}, Status: "OK"})
	if err != nil {
		return fmt.Errorf("send ack: %w", err)
	}
	if err := a.outbound.SendToDID(msg, peer.MyDID, peer.TheirDID); err != nil {
		return fmt.Errorf("send ack: %w", err)
	}
	return nil
}

// Reject tells the wallet its presentation was refused, with the reason code, on the same
// thread (present-proof 2.0 problem report).
func (a *Agent) Reject(_ context.Context, peer Peer, code, explain string) error {
	return a.sendProblem(peer, TypePresProblemV2, code, explain)
}

// Close stops the agent and waits for its goroutines. Calls after the first do nothing.
func (a *Agent) Close() error {
	var err error
	a.closeOnce.Do(func() { err = a.close() })
	return err
}

func (a *Agent) close() error {
	if a.exchange != nil {
		_ = a.exchange.UnregisterActionEvent(a.actions)
		_ = a.exchange.UnregisterMsgEvent(a.states)
	}
	a.smu.Lock()
	a.stopping = true
	a.smu.Unlock()
	a.handlers.Wait() // they use the framework
	err := a.framework.Close()
	if a.quit != nil {
		close(a.quit)
	}
	a.wg.Wait()
	return err
}

func (a *Agent) closeAfter(err error) error {
	_ = a.framework.Close()
	return err
}

// messageMap turns a message into the map the framework sends. It goes through JSON, not the
// framework's service.NewDIDCommMsgMap: that converts struct fields by reflection and so
// turns a json.RawMessage (an attachment's data.json) into an array of byte values, which
// wallets cannot read.
func messageMap(v any) (service.DIDCommMsgMap, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m service.DIDCommMsgMap
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}
