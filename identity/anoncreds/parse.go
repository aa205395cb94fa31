package anoncreds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/internal/jsonlimit"
)

// Limits on untrusted input. They are far above what real wallets and ledgers produce (a
// credential definition with 125 attributes is about 80 KB; a presentation of four
// credentials with four predicates each is about 120 KB).
const (
	MaxPresentationBytes = 1 << 20
	MaxRequestBytes      = 256 << 10
	MaxCredDefBytes      = 512 << 10
	MaxSchemaBytes       = 64 << 10
	MaxJSONDepth         = 32

	MaxSubProofs       = 32  // credentials in one presentation
	MaxAttributes      = 256 // attributes in one schema or credential definition
	MaxPredicates      = 64  // predicate proofs in one sub-proof
	MaxReferents       = 256 // requested attributes, and requested predicates
	MaxNameLength      = 256 // attribute names, referents, identifiers
	MaxRawValueLength  = 64 << 10
	MaxCommitmentBytes = 1024 // one c_list entry
)

// ParseSchema reads a schema.
func ParseSchema(b []byte) (*Schema, error) {
	var s Schema
	if err := decode(b, MaxSchemaBytes, &s); err != nil {
		return nil, err
	}
	if len(s.AttrNames) == 0 || len(s.AttrNames) > MaxAttributes {
		return nil, refuse(ReasonMalformed, "schema has %d attributes", len(s.AttrNames))
	}
	seen := map[string]bool{}
	for _, a := range s.AttrNames {
		c := commonView(a)
		if c == "" || len(a) > MaxNameLength || seen[c] || c == linkSecretAttr {
			return nil, refuse(ReasonMalformed, "schema attribute %q is empty, too long, duplicated or reserved", a)
		}
		seen[c] = true
	}
	return &s, nil
}

// ParseCredentialDefinition reads a credential definition and checks the shape of its
// primary key (sizes and ranges; the key's correctness proof is the issuer's business and is
// not part of what a verifier receives).
func ParseCredentialDefinition(b []byte) (*CredentialDefinition, error) {
	var d CredentialDefinition
	if err := decode(b, MaxCredDefBytes, &d); err != nil {
		return nil, err
	}
	if d.Type != "" && d.Type != "CL" {
		return nil, refuse(ReasonMalformed, "credential definition type %q is not CL", d.Type)
	}
	if err := d.Value.Primary.normalize(); err != nil {
		return nil, err
	}
	return &d, nil
}

// ParsePresentationRequest reads a presentation request.
func ParsePresentationRequest(b []byte) (*PresentationRequest, error) {
	var r PresentationRequest
	if err := decode(b, MaxRequestBytes, &r); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return &r, nil
}

// ParsePresentation reads a presentation and checks its shape: counts, names and the
// ranges of its numbers. It does not verify anything; see Verify.
func ParsePresentation(b []byte) (*Presentation, error) {
	var p Presentation
	if err := decode(b, MaxPresentationBytes, &p); err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

func decode(b []byte, limit int, v any) error {
	if len(b) > limit {
		return refuse(ReasonMalformed, "input is %d bytes, more than %d", len(b), limit)
	}
	if jsonlimit.TooDeep(b, MaxJSONDepth) {
		return refuse(ReasonMalformed, "JSON nested deeper than %d", MaxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return refuse(ReasonMalformed, "json: %v", err)
	}
	if dec.More() {
		return refuse(ReasonMalformed, "trailing data after JSON value")
	}
	return nil
}

// UnmarshalJSON reads c_hash and c_list; c_list is an array of byte arrays written as
// arrays of numbers 0–255.
func (a *AggregatedProof) UnmarshalJSON(b []byte) error {
	var w struct {
		CHash *Num       `json:"c_hash"`
		CList [][]uint16 `json:"c_list"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return refuse(ReasonMalformed, "aggregated_proof: %v", err)
	}
	a.CHash = w.CHash
	a.CList = make([][]uint8, len(w.CList))
	for i, c := range w.CList {
		if len(c) > MaxCommitmentBytes {
			return refuse(ReasonMalformed, "c_list[%d] has %d bytes", i, len(c))
		}
		a.CList[i] = make([]uint8, len(c))
		for j, x := range c {
			if x > 255 {
				return refuse(ReasonMalformed, "c_list[%d][%d] is not a byte", i, j)
			}
			a.CList[i][j] = uint8(x)
		}
	}
	return nil
}

// MarshalJSON writes c_list as arrays of numbers, as every AnonCreds implementation does.
func (a AggregatedProof) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"c_hash":`)
	h, err := json.Marshal(a.CHash)
	if err != nil {
		return nil, err
	}
	buf.Write(h)
	buf.WriteString(`,"c_list":[`)
	for i, c := range a.CList {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('[')
		for j, x := range c {
			if j > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, "%d", x)
		}
		buf.WriteByte(']')
	}
	buf.WriteString("]}")
	return buf.Bytes(), nil
}
