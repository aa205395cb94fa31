package rfcholder

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Message types, as the RFCs write them.
const (
	TypeOOBInvitation10   = "https://didcomm.org/out-of-band/1.0/invitation"
	TypeOOBInvitation11   = "https://didcomm.org/out-of-band/1.1/invitation"
	DIDExchange10         = "https://didcomm.org/didexchange/1.0"
	TypeExchangeRequest   = DIDExchange10 + "/request"
	TypeExchangeResponse  = DIDExchange10 + "/response"
	TypeExchangeComplete  = DIDExchange10 + "/complete"
	TypeExchangeProblem   = DIDExchange10 + "/problem_report"
	PresentProofV2        = "https://didcomm.org/present-proof/2.0/"
	TypeRequestPresV2     = PresentProofV2 + "request-presentation"
	TypeProposePresV2     = PresentProofV2 + "propose-presentation"
	TypePresentationV2    = PresentProofV2 + "presentation"
	TypePresAckV2         = PresentProofV2 + "ack"
	TypePresProblemV2     = PresentProofV2 + "problem-report"
	TypeReportProblem     = "https://didcomm.org/report-problem/1.0/problem-report"
	TypeTrustPing         = "https://didcomm.org/trust_ping/1.0/ping"
	TypeTrustPingResponse = "https://didcomm.org/trust_ping/1.0/ping_response"
	TypeBasicMessage      = "https://didcomm.org/basicmessage/1.0/message"

	FormatPEDefinition = "dif/presentation-exchange/definitions@v1.0"
	FormatPESubmission = "dif/presentation-exchange/submission@v1.0"

	legacyPrefix = "did:sov:BzCbsNYhMrjHiqZDTUASHg;spec/"
)

// normalizeType maps the legacy did:sov message type prefix (RFC 0348) to https://didcomm.org/.
func normalizeType(t string) string {
	if rest, ok := strings.CutPrefix(t, legacyPrefix); ok {
		return "https://didcomm.org/" + rest
	}
	return t
}

// Thread is the ~thread decorator (RFC 0008).
type Thread struct {
	ThreadID       string `json:"thid,omitempty"`
	ParentThreadID string `json:"pthid,omitempty"`
}

// Message is a plaintext DIDComm v1 message the holder received.
type Message struct {
	// Type is @type, with a legacy did:sov prefix mapped to https://didcomm.org/.
	Type string
	ID   string
	// ThreadID is ~thread.thid, or @id when the message starts its thread (RFC 0008).
	ThreadID       string
	ParentThreadID string
	// Raw is the message as received.
	Raw json.RawMessage
	// SenderKey is the sender's verkey (base58) from the envelope; empty for anoncrypt.
	SenderKey string
	// ContentType is the Content-Type of the HTTP request that carried it.
	ContentType string
}

// parseMessage reads the fields every DIDComm v1 message has.
func parseMessage(raw []byte) (Message, error) {
	var m struct {
		ID     string  `json:"@id"`
		Type   string  `json:"@type"`
		Thread *Thread `json:"~thread"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return Message{}, fmt.Errorf("message is not a JSON object with string @id and @type: %w", err)
	}
	if m.ID == "" || m.Type == "" {
		return Message{}, errors.New("message lacks @id or @type")
	}
	msg := Message{Type: normalizeType(m.Type), ID: m.ID, ThreadID: m.ID, Raw: append(json.RawMessage(nil), raw...)}
	if m.Thread != nil {
		if m.Thread.ThreadID != "" {
			msg.ThreadID = m.Thread.ThreadID
		}
		msg.ParentThreadID = m.Thread.ParentThreadID
	}
	return msg, nil
}

// Decode unmarshals the message into v.
func (m Message) Decode(v any) error { return json.Unmarshal(m.Raw, v) }

// ProblemReport is an RFC 0035 problem report's machine-readable part.
type ProblemReport struct {
	Description struct {
		Code string `json:"code"`
		En   string `json:"en"`
	} `json:"description"`
}

// IsProblemReport reports whether m is a problem report of any protocol.
func (m Message) IsProblemReport() bool {
	return strings.HasSuffix(m.Type, "/problem-report") || strings.HasSuffix(m.Type, "/problem_report")
}

// ProblemCode returns description.code of a problem report, or "".
func (m Message) ProblemCode() string {
	var p ProblemReport
	if !m.IsProblemReport() || m.Decode(&p) != nil {
		return ""
	}
	return p.Description.Code
}

// ProblemExplain returns description.en of a problem report, or "".
func (m Message) ProblemExplain() string {
	var p ProblemReport
	if !m.IsProblemReport() || m.Decode(&p) != nil {
		return ""
	}
	return p.Description.En
}

// NewID returns a random message id (a version 4 UUID, as most agents use).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// threadOf returns the thread a message we send belongs to: its ~thread.thid, or its @id.
func threadOf(raw []byte) (id, thread string, err error) {
	m, err := parseMessage(raw)
	if err != nil {
		return "", "", err
	}
	return m.ID, m.ThreadID, nil
}
