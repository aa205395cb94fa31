package rfcholder

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// Invitation is what the holder needs from an RFC 0434 out-of-band invitation.
type Invitation struct {
	ID    string
	Label string
	// Endpoint and RecipientKey come from the first inline service block.
	Endpoint     string
	RecipientKey ed25519.PublicKey
	// HandshakeProtocols as the invitation lists them.
	HandshakeProtocols []string
}

// ParseInvitation reads an out-of-band invitation, given as its JSON or as an invitation URL
// (…?oob=base64url(JSON)). It needs a DID Exchange 1.0 handshake and an inline service block
// whose recipientKeys are did:key (RFC 0434) with no routing keys.
func ParseInvitation(b []byte) (*Invitation, error) {
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, "{") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("invitation is neither JSON nor a URL: %w", err)
		}
		oob := u.Query().Get("oob")
		if oob == "" {
			return nil, errors.New("invitation URL has no oob parameter")
		}
		raw, err := decodeB64Any(oob)
		if err != nil {
			return nil, fmt.Errorf("invitation URL: oob: %w", err)
		}
		s = string(raw)
	}
	var inv struct {
		ID                 string            `json:"@id"`
		Type               string            `json:"@type"`
		Label              string            `json:"label"`
		HandshakeProtocols []string          `json:"handshake_protocols"`
		Services           []json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal([]byte(s), &inv); err != nil {
		return nil, fmt.Errorf("invitation: %w", err)
	}
	if t := normalizeType(inv.Type); t != TypeOOBInvitation10 && t != TypeOOBInvitation11 {
		return nil, fmt.Errorf("invitation @type %q is not out-of-band 1.x", clip(inv.Type))
	}
	if inv.ID == "" {
		return nil, errors.New("invitation has no @id")
	}
	hs := make([]string, len(inv.HandshakeProtocols))
	for i, p := range inv.HandshakeProtocols {
		hs[i] = normalizeType(p)
	}
	if !slices.Contains(hs, DIDExchange10) {
		return nil, fmt.Errorf("invitation does not offer DID Exchange 1.0 (handshake_protocols %q)", hs)
	}
	if len(inv.Services) == 0 {
		return nil, errors.New("invitation has no services")
	}
	var svc struct {
		Type            string          `json:"type"`
		RecipientKeys   []string        `json:"recipientKeys"`
		RoutingKeys     []string        `json:"routingKeys"`
		ServiceEndpoint json.RawMessage `json:"serviceEndpoint"`
	}
	if err := json.Unmarshal(inv.Services[0], &svc); err != nil {
		return nil, errors.New("invitation's first service is a DID, not an inline service block: not supported")
	}
	if svc.Type != "did-communication" {
		return nil, fmt.Errorf("invitation's service type %q, want did-communication", clip(svc.Type))
	}
	if len(svc.RoutingKeys) > 0 {
		return nil, errors.New("invitation asks for routing (mediators): not supported by this holder")
	}
	if len(svc.RecipientKeys) == 0 {
		return nil, errors.New("invitation's service has no recipientKeys")
	}
	key, err := ParseDIDKey(svc.RecipientKeys[0])
	if err != nil {
		return nil, fmt.Errorf("invitation recipient key: %w", err)
	}
	endpoint, err := serviceURI(svc.ServiceEndpoint)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("invitation endpoint %q is not an HTTP(S) URL", clip(endpoint))
	}
	return &Invitation{ID: inv.ID, Label: inv.Label, Endpoint: endpoint, RecipientKey: key, HandshakeProtocols: hs}, nil
}
