package rfcholder

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/hearro/trustbroker/identity"
)

// ContentType is what the holder sends with every envelope. The charset parameter is there on
// purpose: RFC 0025 names the media type, and wallets add parameters.
const ContentType = "application/didcomm-envelope-enc; charset=utf-8"

// Config configures a Holder.
type Config struct {
	// Label is the name the holder gives in DID exchange requests.
	Label string
	// PaddedBase64 makes envelopes use padded base64url, as indy-sdk wrote them. By default
	// they are unpadded, as RFC 7515 defines base64url and as ACA-Py and Credo write it.
	PaddedBase64 bool
	// ContentType overrides ContentType.
	ContentType string
	// HTTPClient sends messages; nil: a client with a 10 s timeout.
	HTTPClient *http.Client
}

// Holder is an RFC-following DIDComm v1 holder with its own loopback HTTP endpoint. It is safe
// for concurrent use.
type Holder struct {
	cfg    Config
	client *http.Client
	srv    *httptest.Server
	loader *identity.ContextLoader

	// vpKey signs presentations; its did:key is the holder DID credentials are issued to.
	vpKey ed25519.PrivateKey
	vpDID string

	mu    sync.Mutex
	conns map[string]*Connection // by the base58 verkey of our connection key
}

// New starts a holder and its endpoint. Close stops them.
func New(cfg Config) (*Holder, error) {
	if cfg.Label == "" {
		cfg.Label = "RFC holder"
	}
	if cfg.ContentType == "" {
		cfg.ContentType = ContentType
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	loader, err := identity.NewContextLoader()
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	h := &Holder{cfg: cfg, client: client, loader: loader, vpKey: priv, vpDID: identity.DIDKey(pub), conns: map[string]*Connection{}}
	h.srv = httptest.NewServer(http.HandlerFunc(h.receive))
	return h, nil
}

// Close stops the endpoint.
func (h *Holder) Close() { h.srv.Close() }

// Endpoint is the URL the holder receives messages at.
func (h *Holder) Endpoint() string { return h.srv.URL + "/" }

// HolderDID is the did:key the holder signs presentations with; credentials it presents
// should be issued to it.
func (h *Holder) HolderDID() string { return h.vpDID }

func (h *Holder) key(vk string) (ed25519.PrivateKey, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.conns[vk]
	if !ok {
		return nil, false
	}
	return c.key, true
}

func (h *Holder) connection(vk string) *Connection {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[vk]
}

// receive is the holder's DIDComm endpoint: one envelope per POST.
func (h *Holder) receive(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST DIDComm messages", http.StatusMethodNotAllowed)
		return
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/didcomm-envelope-enc" && mt != "application/ssi-agent-wire" && mt != "application/json") {
		http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEnvelopeSize))
	if err != nil {
		http.Error(w, "cannot read message", http.StatusBadRequest)
		return
	}
	un, err := Unpack(body, h.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	msg, err := parseMessage(un.Message)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if un.SenderKey != nil {
		msg.SenderKey = verkey(un.SenderKey)
	}
	msg.ContentType = r.Header.Get("Content-Type")
	c := h.connection(verkey(un.RecipientKey))
	if c == nil {
		http.Error(w, "no connection for this key", http.StatusBadRequest)
		return
	}
	c.deliver(msg)
	w.WriteHeader(http.StatusAccepted)
}

// Connection is the holder's side of one DIDComm connection (or of one in the making).
type Connection struct {
	h   *Holder
	key ed25519.PrivateKey // our DIDComm key for this connection

	// Set by Connect and read-only afterwards.
	Invitation *Invitation
	// MyDID is our did:peer:1; TheirDID the service's DID from the exchange response.
	MyDID, TheirDID string
	// RequestID is the @id of our exchange request: the DID exchange's thread.
	RequestID string
	// ResponseAttachment is the response's did_doc~attach as received.
	ResponseAttachment Attachment
	their              DIDCommService

	mu     sync.Mutex
	inbox  []Message
	notify chan struct{} // closed and replaced on every delivery
}

func (c *Connection) deliver(m Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inbox = append(c.inbox, m)
	close(c.notify)
	c.notify = make(chan struct{})
}

// Await returns (and removes) the first received message that match accepts, waiting for it
// until ctx ends.
func (c *Connection) Await(ctx context.Context, match func(Message) bool) (Message, error) {
	for {
		c.mu.Lock()
		for i, m := range c.inbox {
			if match(m) {
				c.inbox = append(c.inbox[:i:i], c.inbox[i+1:]...)
				c.mu.Unlock()
				return m, nil
			}
		}
		wait := c.notify
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("waiting for a message: %w", ctx.Err())
		}
	}
}

// AwaitThread waits for the next message on thread thid.
func (c *Connection) AwaitThread(ctx context.Context, thid string) (Message, error) {
	return c.Await(ctx, func(m Message) bool { return m.ThreadID == thid })
}

// Envelope packs a plaintext message (a JSON object, or anything that marshals to one) for the
// other side of the connection, from our connection key.
func (c *Connection) Envelope(msg any) ([]byte, error) {
	raw, err := marshalMessage(msg)
	if err != nil {
		return nil, err
	}
	return Pack(raw, c.key, []ed25519.PublicKey{c.their.RecipientKey}, PackOptions{Padded: c.h.cfg.PaddedBase64})
}

// TheirEndpoint is where the other side receives messages.
func (c *Connection) TheirEndpoint() string { return c.their.Endpoint }

// MyKey is our DIDComm public key for this connection (its did:peer:1 is MyDID).
func (c *Connection) MyKey() ed25519.PublicKey { return c.key.Public().(ed25519.PublicKey) }

// TheirKey is the other side's DIDComm verkey (base58), as its DID document gives it.
func (c *Connection) TheirKey() string { return verkey(c.their.RecipientKey) }

// Send packs msg and POSTs it to the other side; a status other than 2xx is an error.
func (c *Connection) Send(ctx context.Context, msg any) error {
	env, err := c.Envelope(msg)
	if err != nil {
		return err
	}
	return c.h.post(ctx, c.their.Endpoint, env)
}

// Ask sends msg and waits for the first message on its thread (~thread.thid, or its @id).
func (c *Connection) Ask(ctx context.Context, msg any) (Message, error) {
	raw, err := marshalMessage(msg)
	if err != nil {
		return Message{}, err
	}
	_, thid, err := threadOf(raw)
	if err != nil {
		return Message{}, err
	}
	if err := c.Send(ctx, json.RawMessage(raw)); err != nil {
		return Message{}, err
	}
	return c.AwaitThread(ctx, thid)
}

// StatusError is a non-2xx answer to a POSTed message.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("endpoint answered %d: %s", e.Status, e.Body)
}

func (h *Holder) post(ctx context.Context, endpoint string, env []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(env))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", h.cfg.ContentType)
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return &StatusError{Status: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
	}
	return nil
}

func marshalMessage(msg any) ([]byte, error) {
	var raw []byte
	switch m := msg.(type) {
	case []byte:
		raw = m
	case json.RawMessage:
		raw = m
	default:
		b, err := json.Marshal(msg)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	if _, err := parseMessage(raw); err != nil {
		return nil, err
	}
	return raw, nil
}

var errNoConnection = errors.New("connection is not established")
