package didcomm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
)

// Message types this package speaks, as the RFCs write them. Wallets may still use the legacy
// "did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/" prefix; NormalizeType maps it to https://didcomm.org/.
const (
	PresentProofV2        = "https://didcomm.org/present-proof/2.0/"
	TypeRequestPresV2     = PresentProofV2 + "request-presentation"
	TypePresentationV2    = PresentProofV2 + "presentation"
	TypeProposePresV2     = PresentProofV2 + "propose-presentation"
	TypePresAckV2         = PresentProofV2 + "ack"
	TypePresProblemV2     = PresentProofV2 + "problem-report"
	TypeReportProblem     = "https://didcomm.org/report-problem/1.0/problem-report"
	TypeTrustPing         = "https://didcomm.org/trust_ping/1.0/ping"
	TypeTrustPingResponse = "https://didcomm.org/trust_ping/1.0/ping_response"

	// FormatPEDefinition and FormatPESubmission are the attachment formats of DIF
	// Presentation Exchange in present-proof v2 (RFC 0510).
	FormatPEDefinition = "dif/presentation-exchange/definitions@v1.0"
	FormatPESubmission = "dif/presentation-exchange/submission@v1.0"

	legacyPrefix = "did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/"
)

// NormalizeType maps the legacy did:sov message type prefix to https://didcomm.org/.
func NormalizeType(t string) string {
	if strings.HasPrefix(t, legacyPrefix) {
		return "https://didcomm.org/" + strings.TrimPrefix(t, legacyPrefix)
	}
	return t
}

// Thread is the DIDComm thread decorator.
type Thread struct {
	ID       string `json:"thid,omitempty"`
	ParentID string `json:"pthid,omitempty"`
}

// Format names the format of one attachment (RFC 0454).
type Format struct {
	AttachID string `json:"attach_id"`
	Format   string `json:"format"`
}

// Attachment is an RFC 0017 attachment with inline data.
type Attachment struct {
	ID       string         `json:"@id"`
	MimeType string         `json:"mime-type,omitempty"`
	Data     AttachmentData `json:"data"`
}

// AttachmentData holds inline attachment content, as JSON or base64.
type AttachmentData struct {
	JSON   json.RawMessage `json:"json,omitempty"`
	Base64 string          `json:"base64,omitempty"`
}

// Bytes returns the attachment's content.
func (d AttachmentData) Bytes() ([]byte, error) {
	switch {
	case len(d.JSON) > 0 && string(d.JSON) != "null":
		return d.JSON, nil
	case d.Base64 != "":
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(d.Base64); err == nil {
				return b, nil
			}
		}
		return nil, errors.New("attachment data is not valid base64")
	}
	return nil, errors.New("attachment has no inline data")
}

// RequestPresentationV2 is present-proof 2.0's request-presentation (RFC 0454).
type RequestPresentationV2 struct {
	ID          string       `json:"@id"`
	Type        string       `json:"@type"`
	Comment     string       `json:"comment,omitempty"`
	WillConfirm bool         `json:"will_confirm"`
	Formats     []Format     `json:"formats"`
	Attachments []Attachment `json:"request_presentations~attach"`
}

// PresentationV2 is present-proof 2.0's presentation.
type PresentationV2 struct {
	ID          string       `json:"@id"`
	Type        string       `json:"@type"`
	Thread      *Thread      `json:"~thread,omitempty"`
	Comment     string       `json:"comment,omitempty"`
	Formats     []Format     `json:"formats"`
	Attachments []Attachment `json:"presentations~attach"`
}

// Ack is an RFC 0015 acknowledgement, adopted by present-proof 2.0.
type Ack struct {
	ID     string  `json:"@id"`
	Type   string  `json:"@type"`
	Thread *Thread `json:"~thread"`
	Status string  `json:"status"`
}

// ProblemReport is an RFC 0035 problem report.
type ProblemReport struct {
	ID          string         `json:"@id"`
	Type        string         `json:"@type"`
	Thread      *Thread        `json:"~thread,omitempty"`
	Description ProblemDetails `json:"description"`
	WhoRetries  string         `json:"who_retries,omitempty"`
	Impact      string         `json:"impact,omitempty"`
}

// ProblemDetails carries the machine-readable code and a human explanation.
type ProblemDetails struct {
	Code string `json:"code"`
	En   string `json:"en,omitempty"`
}

// PEPayload is the JSON of a DIF presentation-exchange definitions attachment (RFC 0510):
// challenge and domain travel in options.
type PEPayload struct {
	Options                PEOptions       `json:"options"`
	PresentationDefinition json.RawMessage `json:"presentation_definition"`
}

// PEOptions are the proof options the verifier asks for.
type PEOptions struct {
	Challenge string `json:"challenge"`
	Domain    string `json:"domain"`
}

// Submission returns the content of the attachment a presentation message declares as a DIF
// presentation submission (or, with no formats at all, its only attachment).
func (p *PresentationV2) Submission() ([]byte, error) {
	if len(p.Attachments) == 0 {
		return nil, errors.New("presentation has no attachment")
	}
	if len(p.Formats) == 0 {
		if len(p.Attachments) != 1 {
			return nil, errors.New("presentation has several attachments and no formats")
		}
		return p.Attachments[0].Data.Bytes()
	}
	for _, f := range p.Formats {
		if f.Format != FormatPESubmission {
			continue
		}
		for _, a := range p.Attachments {
			if a.ID == f.AttachID {
				return a.Data.Bytes()
			}
		}
		return nil, fmt.Errorf("format names attachment %q, which is missing", f.AttachID)
	}
	return nil, fmt.Errorf("no attachment in format %s", FormatPESubmission)
}

// Decode reads a received message into v with encoding/json. Use it instead of the
// framework's DIDCommMsg.Decode, whose mapstructure hooks base64-decode every string bound for
// a []byte: an attachment's data.json holding a JSON string (a compact VP-JWT or SD-JWT, as
// wallets send them) then fails to decode.
func Decode(msg service.DIDCommMsg, v any) error {
	m, ok := msg.(service.DIDCommMsgMap)
	if !ok {
		return msg.Decode(v)
	}
	b, err := json.Marshal(map[string]interface{}(m))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
