package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/hearro/trustbroker/identity/anoncreds"
	"github.com/hearro/trustbroker/internal/jsonlimit"
)

// Registry returns the public AnonCreds objects a verifier needs, by identifier. Every
// implementation in this package is safe for concurrent use, and returns objects the
// caller must treat as read-only (a cache hands the same object to every caller).
//
// Errors wrap one of ErrNotFound, ErrMalformedID, ErrUnavailable, ErrInvalidObject or
// ErrUnsupported.
type Registry interface {
	Schema(ctx context.Context, id string) (*anoncreds.Schema, error)
	CredentialDefinition(ctx context.Context, id string) (*anoncreds.CredentialDefinition, error)
	RevocationRegistryDefinition(ctx context.Context, id string) (*RevocationRegistryDefinition, error)
	// RevocationStatusList returns the registry's state at timestamp (Unix seconds): the
	// list of the latest entry written at or before it. Timestamp 0 asks for the latest.
	RevocationStatusList(ctx context.Context, revRegDefID string, timestamp int64) (*RevocationStatusList, error)
}

// Limits on objects read from a source.
const (
	MaxRevRegDefBytes     = 64 << 10
	MaxStatusListBytes    = 8 << 20
	MaxCredentialsPerList = 1 << 20 // maxCredNum; Indy registries hold at most 2^15 in practice
	maxJSONDepth          = anoncreds.MaxJSONDepth
)

// RevocationRegistryDefinition is an AnonCreds revocation registry definition (the
// AnonCreds specification's shape; IssuanceType is legacy Indy's).
type RevocationRegistryDefinition struct {
	ID           string                            `json:"id,omitempty"`
	IssuerID     string                            `json:"issuerId,omitempty"`
	RevocDefType string                            `json:"revocDefType"`
	CredDefID    string                            `json:"credDefId"`
	Tag          string                            `json:"tag"`
	Value        RevocationRegistryDefinitionValue `json:"value"`
}

// RevocationRegistryDefinitionValue holds the registry's public key and its tails file.
type RevocationRegistryDefinitionValue struct {
	// IssuanceType is "ISSUANCE_BY_DEFAULT" (every index starts issued) or
	// "ISSUANCE_ON_DEMAND" (every index starts revoked); only legacy Indy registries have it,
	// and empty means by default.
	IssuanceType  string     `json:"issuanceType,omitempty"`
	MaxCredNum    uint32     `json:"maxCredNum"`
	PublicKeys    PublicKeys `json:"publicKeys"`
	TailsLocation string     `json:"tailsLocation"`
	TailsHash     string     `json:"tailsHash"`
}

// PublicKeys holds the accumulator key.
type PublicKeys struct {
	AccumKey struct {
		Z string `json:"z"`
	} `json:"accumKey"`
}

// RevocationStatusList is the state of a revocation registry at one time: for each
// index, 0 (not revoked) or 1 (revoked), and the accumulator.
type RevocationStatusList struct {
	IssuerID           string `json:"issuerId,omitempty"`
	RevRegDefID        string `json:"revRegDefId"`
	RevocationList     []int8 `json:"revocationList"`
	CurrentAccumulator string `json:"currentAccumulator"`
	Timestamp          int64  `json:"timestamp"`
}

// Revoked reports whether index is revoked; an index outside the list is.
func (l *RevocationStatusList) Revoked(index int) bool {
	return index < 0 || index >= len(l.RevocationList) || l.RevocationList[index] != 0
}

// ParseRevocationRegistryDefinition reads a revocation registry definition in the
// AnonCreds specification's shape.
func ParseRevocationRegistryDefinition(b []byte) (*RevocationRegistryDefinition, error) {
	var d RevocationRegistryDefinition
	if err := decodeJSON(b, MaxRevRegDefBytes, &d); err != nil {
		return nil, err
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

func (d *RevocationRegistryDefinition) validate() error {
	switch {
	case d.RevocDefType != "CL_ACCUM":
		return fmt.Errorf("revocDefType %q is not CL_ACCUM", clip(d.RevocDefType))
	case d.CredDefID == "" || d.Tag == "":
		return fmt.Errorf("credDefId or tag missing")
	case d.Value.MaxCredNum == 0 || d.Value.MaxCredNum > MaxCredentialsPerList:
		return fmt.Errorf("maxCredNum %d out of range", d.Value.MaxCredNum)
	case d.Value.PublicKeys.AccumKey.Z == "":
		return fmt.Errorf("accumKey missing")
	case d.Value.IssuanceType != "" && d.Value.IssuanceType != "ISSUANCE_BY_DEFAULT" && d.Value.IssuanceType != "ISSUANCE_ON_DEMAND":
		return fmt.Errorf("issuanceType %q unknown", clip(d.Value.IssuanceType))
	}
	return nil
}

// ParseRevocationStatusList reads a revocation status list in the AnonCreds
// specification's shape.
func ParseRevocationStatusList(b []byte) (*RevocationStatusList, error) {
	var l RevocationStatusList
	if err := decodeJSON(b, MaxStatusListBytes, &l); err != nil {
		return nil, err
	}
	if err := l.validate(); err != nil {
		return nil, err
	}
	return &l, nil
}

func (l *RevocationStatusList) validate() error {
	switch {
	case l.RevRegDefID == "":
		return fmt.Errorf("revRegDefId missing")
	case len(l.RevocationList) == 0 || len(l.RevocationList) > MaxCredentialsPerList:
		return fmt.Errorf("revocationList has %d entries", len(l.RevocationList))
	case l.CurrentAccumulator == "":
		return fmt.Errorf("currentAccumulator missing")
	case l.Timestamp <= 0:
		return fmt.Errorf("timestamp missing")
	}
	for i, v := range l.RevocationList {
		if v != 0 && v != 1 {
			return fmt.Errorf("revocationList[%d] is %d, not 0 or 1", i, v)
		}
	}
	return nil
}

// decodeJSON decodes one JSON value of at most limit bytes and nesting maxJSONDepth.
func decodeJSON(b []byte, limit int, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%d bytes, more than %d", len(b), limit)
	}
	if jsonlimit.TooDeep(b, maxJSONDepth) {
		return fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("json: %v", err)
	}
	if dec.More() {
		return fmt.Errorf("trailing data after JSON value")
	}
	return nil
}
