package rfcholder

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
)

// RFC 0023 DID Exchange 1.0, invitee side:
//
//	request  {@id, ~thread{thid=@id, pthid=invitation @id}, label, did, did_doc~attach}
//	         → packed for the invitation's key, POSTed to its endpoint
//	response {~thread{thid=request @id}, did, did_doc~attach signed by the invitation's key}
//	complete {~thread{thid=request @id, pthid=invitation @id}} → to the response DID's service

type exchangeRequest struct {
	ID        string     `json:"@id"`
	Type      string     `json:"@type"`
	Thread    Thread     `json:"~thread"`
	Label     string     `json:"label"`
	DID       string     `json:"did"`
	DocAttach Attachment `json:"did_doc~attach"`
}

type exchangeResponse struct {
	DID       string      `json:"did"`
	DocAttach *Attachment `json:"did_doc~attach"`
}

type exchangeComplete struct {
	ID     string `json:"@id"`
	Type   string `json:"@type"`
	Thread Thread `json:"~thread"`
}

// ExchangeError is a DID exchange the other side refused (it sent a problem report) or that
// the holder refused (the response failed a check).
type ExchangeError struct {
	// Code is the problem report's code when the other side refused.
	Code string
	Err  error
}

func (e *ExchangeError) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("DID exchange refused (%s): %v", e.Code, e.Err)
	}
	return fmt.Sprintf("DID exchange: %v", e.Err)
}

func (e *ExchangeError) Unwrap() error { return e.Err }

// Connect answers an out-of-band invitation with a DID exchange and returns the connection
// once the complete message has been accepted. The response's DID document must be signed by
// the invitation's key (RFC 0023); if it is not, Connect fails and sends no complete.
func (h *Holder) Connect(ctx context.Context, invitation []byte) (*Connection, error) {
	inv, err := ParseInvitation(invitation)
	if err != nil {
		return nil, err
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	did, doc, err := newPeerDID(pub, h.Endpoint())
	if err != nil {
		return nil, err
	}
	// As Credo does, the requester signs its own document with its new DIDComm key.
	att, err := SignedAttachment(NewID(), "application/json", doc, priv)
	if err != nil {
		return nil, err
	}
	req := exchangeRequest{
		ID: NewID(), Type: TypeExchangeRequest, Label: h.cfg.Label, DID: did, DocAttach: att,
	}
	req.Thread = Thread{ThreadID: req.ID, ParentThreadID: inv.ID}
	c := &Connection{
		h: h, key: priv, Invitation: inv, MyDID: did, RequestID: req.ID,
		their:  DIDCommService{Endpoint: inv.Endpoint, RecipientKey: inv.RecipientKey},
		notify: make(chan struct{}),
	}
	h.mu.Lock()
	h.conns[verkey(pub)] = c
	h.mu.Unlock()

	if err := c.Send(ctx, req); err != nil {
		return nil, &ExchangeError{Err: fmt.Errorf("send request: %w", err)}
	}
	msg, err := c.AwaitThread(ctx, req.ID)
	if err != nil {
		return nil, &ExchangeError{Err: err}
	}
	switch {
	case msg.IsProblemReport():
		return nil, &ExchangeError{Code: msg.ProblemCode(), Err: errors.New(msg.ProblemExplain())}
	case msg.Type != TypeExchangeResponse:
		return nil, &ExchangeError{Err: fmt.Errorf("answer to the request is a %s, want a response", clip(msg.Type))}
	}
	var resp exchangeResponse
	if err := msg.Decode(&resp); err != nil {
		return nil, &ExchangeError{Err: fmt.Errorf("response: %w", err)}
	}
	if resp.DocAttach == nil {
		return nil, &ExchangeError{Err: errors.New("response has no did_doc~attach")}
	}
	c.ResponseAttachment = *resp.DocAttach
	theirDoc, err := VerifyAttachment(*resp.DocAttach, inv.RecipientKey)
	if err != nil {
		return nil, &ExchangeError{Err: fmt.Errorf("response DID document: %w", err)}
	}
	docID, svc, err := ParseDIDCommService(theirDoc)
	if err != nil {
		return nil, &ExchangeError{Err: fmt.Errorf("response DID document: %w", err)}
	}
	if resp.DID == "" || (docID != "" && docID != resp.DID) {
		return nil, &ExchangeError{Err: fmt.Errorf("response did %q does not match its document's id %q", clip(resp.DID), clip(docID))}
	}
	c.TheirDID = resp.DID
	c.their = svc

	complete := exchangeComplete{ID: NewID(), Type: TypeExchangeComplete, Thread: Thread{ThreadID: req.ID, ParentThreadID: inv.ID}}
	if err := c.Send(ctx, complete); err != nil {
		return nil, &ExchangeError{Err: fmt.Errorf("send complete: %w", err)}
	}
	return c, nil
}
