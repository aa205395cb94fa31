package rfcholder

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/identity"
)

// RFC 0454 present-proof 2.0, prover side, with DIF Presentation Exchange attachments
// (RFC 0510): the request's definitions@v1.0 attachment carries
// {"options": {"challenge", "domain"}, "presentation_definition": {...}}; the presentation's
// submission@v1.0 attachment carries the verifiable presentation, whose proof repeats the
// challenge and domain and whose presentation_submission names the definition.

type format struct {
	AttachID string `json:"attach_id"`
	Format   string `json:"format"`
}

// PresentationRequest is a received request-presentation.
type PresentationRequest struct {
	Message
	Challenge, Domain string
	// Definition is the DIF presentation definition; DefinitionID its id.
	Definition   json.RawMessage
	DefinitionID string
	WillConfirm  bool
}

// AwaitPresentationRequest waits for the next request-presentation on the connection and
// reads it.
func (c *Connection) AwaitPresentationRequest(ctx context.Context) (*PresentationRequest, error) {
	msg, err := c.Await(ctx, func(m Message) bool { return m.Type == TypeRequestPresV2 })
	if err != nil {
		return nil, err
	}
	return ParsePresentationRequest(msg)
}

// ParsePresentationRequest reads the DIF presentation exchange request of a present-proof 2.0
// request-presentation.
func ParsePresentationRequest(msg Message) (*PresentationRequest, error) {
	var m struct {
		WillConfirm bool         `json:"will_confirm"`
		Formats     []format     `json:"formats"`
		Attachments []Attachment `json:"request_presentations~attach"`
	}
	if err := msg.Decode(&m); err != nil {
		return nil, fmt.Errorf("request-presentation: %w", err)
	}
	var att *Attachment
	for _, f := range m.Formats {
		if f.Format != FormatPEDefinition {
			continue
		}
		for i := range m.Attachments {
			if m.Attachments[i].ID == f.AttachID {
				att = &m.Attachments[i]
			}
		}
	}
	if att == nil {
		return nil, fmt.Errorf("request-presentation has no %s attachment", FormatPEDefinition)
	}
	data, err := att.Bytes()
	if err != nil {
		return nil, fmt.Errorf("request-presentation: %w", err)
	}
	var pe struct {
		Options struct {
			Challenge string `json:"challenge"`
			Domain    string `json:"domain"`
		} `json:"options"`
		PresentationDefinition json.RawMessage `json:"presentation_definition"`
	}
	if err := json.Unmarshal(data, &pe); err != nil {
		return nil, fmt.Errorf("request-presentation: definitions attachment: %w", err)
	}
	var def struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(pe.PresentationDefinition, &def); err != nil || def.ID == "" {
		return nil, errors.New("request-presentation: presentation_definition has no id")
	}
	if pe.Options.Challenge == "" {
		return nil, errors.New("request-presentation: options.challenge is missing (RFC 0510 requires it for ldp_vp)")
	}
	return &PresentationRequest{
		Message: msg, Challenge: pe.Options.Challenge, Domain: pe.Options.Domain,
		Definition: pe.PresentationDefinition, DefinitionID: def.ID, WillConfirm: m.WillConfirm,
	}, nil
}

// Presentation says what to present in answer to a request, and how to deviate from it.
type Presentation struct {
	// Credential is the JSON-LD credential to present (issued to Holder.HolderDID).
	Credential json.RawMessage
	// Challenge and Domain, if set, are signed instead of the request's.
	Challenge, Domain string
	// ThreadID, if set, is the thread the presentation is sent on instead of the request's.
	ThreadID string
}

type presentationMsg struct {
	ID          string       `json:"@id"`
	Type        string       `json:"@type"`
	Thread      Thread       `json:"~thread"`
	Formats     []format     `json:"formats"`
	Attachments []Attachment `json:"presentations~attach"`
}

// Present builds and signs a verifiable presentation for req, sends it on the request's
// thread and returns the answer on that thread (an ack, or a problem report).
func (c *Connection) Present(ctx context.Context, req *PresentationRequest, p Presentation) (Message, error) {
	if c.TheirDID == "" {
		return Message{}, errNoConnection
	}
	challenge, domain, thid := req.Challenge, req.Domain, req.ThreadID
	if p.Challenge != "" {
		challenge = p.Challenge
	}
	if p.Domain != "" {
		domain = p.Domain
	}
	if p.ThreadID != "" {
		thid = p.ThreadID
	}
	vp, err := identity.Present(identity.Presentation{
		Holder:             c.h.vpDID,
		VerificationMethod: identity.DIDKeyMethod(c.h.vpKey.Public().(ed25519.PublicKey)),
		Credentials:        []json.RawMessage{p.Credential},
		DefinitionID:       req.DefinitionID,
		Challenge:          challenge,
		Domain:             domain,
	}, identity.Ed25519Signer(c.h.vpKey), c.h.loader)
	if err != nil {
		return Message{}, fmt.Errorf("build presentation: %w", err)
	}
	msg := presentationMsg{
		ID: NewID(), Type: TypePresentationV2, Thread: Thread{ThreadID: thid},
		Formats:     []format{{AttachID: "vp", Format: FormatPESubmission}},
		Attachments: []Attachment{{ID: "vp", MimeType: "application/ld+json", Data: AttachmentData{JSON: vp}}},
	}
	if err := c.Send(ctx, msg); err != nil {
		return Message{}, err
	}
	return c.AwaitThread(ctx, thid)
}
