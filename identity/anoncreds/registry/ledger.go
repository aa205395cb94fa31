package registry

import (
	"encoding/json"
	"strconv"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// This file reads Indy ledger replies, as indy-vdr-proxy returns them from /schema,
// /cred_def, /rev_reg_def and /rev_reg_delta, and as indy-vdr's did:indy resolver embeds
// them in contentMetadata.nodeResponse:
//
//	{"op":"REPLY","result":{"type":"107","dest":"<nym>","seqNo":…,"txnTime":…,
//	  "data":{"name":…,"version":…,"attr_names":[…]},"state_proof":{…},…}}
//
// The state proof is not checked: this package trusts the proxy (or resolver) to have
// checked the ledger nodes' answers (indy-vdr does, with the pool's BLS keys). A reply
// whose data is null, or whose seqNo is null, is the ledger saying it holds no such
// object.

// Indy transaction types of the read requests.
const (
	txnGetSchema        = "107"
	txnGetClaimDef      = "108"
	txnGetRevocRegDef   = "115"
	txnGetRevocRegDelta = "117"
)

type ledgerReply struct {
	Op     string       `json:"op"`
	Result ledgerResult `json:"result"`
}

type ledgerResult struct {
	Type          string          `json:"type"`
	Dest          string          `json:"dest"`
	Origin        string          `json:"origin"`
	Ref           json.Number     `json:"ref"`
	SignatureType string          `json:"signature_type"`
	Tag           string          `json:"tag"`
	SeqNo         *uint64         `json:"seqNo"`
	TxnTime       *int64          `json:"txnTime"`
	Data          json.RawMessage `json:"data"`
}

// readReply decodes a ledger reply of txnType and returns its data, or ErrNotFound.
func readReply(id ID, what string, b []byte, txnType string) (*ledgerResult, error) {
	var r ledgerReply
	if err := decodeJSON(b, len(b), &r); err != nil {
		return nil, fail(ErrInvalidObject, what, id.raw, "ledger reply: %v", err)
	}
	if r.Op != "REPLY" {
		return nil, fail(ErrUnavailable, what, id.raw, "ledger answered %q, not REPLY", clip(r.Op))
	}
	if r.Result.Type != txnType {
		return nil, fail(ErrInvalidObject, what, id.raw, "ledger reply of type %q, not %s", clip(r.Result.Type), txnType)
	}
	data := r.Result.Data
	// Some ledger versions send data as a JSON string holding the JSON object.
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fail(ErrInvalidObject, what, id.raw, "ledger data: %v", err)
		}
		data = json.RawMessage(s)
	}
	if len(data) == 0 || string(data) == "null" || string(data) == "{}" || r.Result.SeqNo == nil && txnType != txnGetRevocRegDelta {
		return nil, fail(ErrNotFound, what, id.raw, "the ledger holds no such object")
	}
	r.Result.Data = data
	return &r.Result, nil
}

func schemaFromLedger(id ID, b []byte) (*anoncreds.Schema, error) {
	res, err := readReply(id, "schema", b, txnGetSchema)
	if err != nil {
		return nil, err
	}
	var data struct {
		Name      string   `json:"name"`
		Version   string   `json:"version"`
		AttrNames []string `json:"attr_names"`
	}
	if err := decodeJSON(res.Data, anoncreds.MaxSchemaBytes, &data); err != nil {
		return nil, invalid(id, "ledger data: %v", err)
	}
	if data.AttrNames == nil {
		// GET_SCHEMA of an unknown schema echoes name and version with no attributes.
		return nil, fail(ErrNotFound, "schema", id.raw, "the ledger holds no such object")
	}
	if res.Dest != id.Nym {
		return nil, invalid(id, "the ledger's schema is by %q", clip(res.Dest))
	}
	spec, _ := json.Marshal(anoncreds.Schema{Name: data.Name, Version: data.Version, AttrNames: data.AttrNames})
	s, err := anoncreds.ParseSchema(spec)
	if err != nil {
		return nil, invalid(id, "%v", err)
	}
	s.IssuerID = id.Issuer
	return checkSchema(id, s)
}

func credDefFromLedger(id ID, b []byte) (*anoncreds.CredentialDefinition, error) {
	res, err := readReply(id, "credential definition", b, txnGetClaimDef)
	if err != nil {
		return nil, err
	}
	if res.Origin != id.Nym || res.Tag != id.Tag || res.Ref.String() != id.SchemaRef || res.SignatureType != "CL" {
		return nil, invalid(id, "the ledger's definition is %q by %q on schema %q of type %q",
			clip(res.Tag), clip(res.Origin), clip(res.Ref.String()), clip(res.SignatureType))
	}
	spec, err := json.Marshal(struct {
		SchemaID string          `json:"schemaId"`
		Type     string          `json:"type"`
		Tag      string          `json:"tag"`
		Value    json.RawMessage `json:"value"`
	}{res.Ref.String(), "CL", res.Tag, res.Data})
	if err != nil {
		return nil, invalid(id, "ledger data: %v", err)
	}
	d, err := anoncreds.ParseCredentialDefinition(spec)
	if err != nil {
		return nil, invalid(id, "%v", err)
	}
	d.IssuerID = id.Issuer
	return checkCredDef(id, d)
}

func revRegDefFromLedger(id ID, b []byte) (*RevocationRegistryDefinition, error) {
	res, err := readReply(id, "revocation registry definition", b, txnGetRevocRegDef)
	if err != nil {
		return nil, err
	}
	d, err := ParseRevocationRegistryDefinition(res.Data)
	if err != nil {
		return nil, invalid(id, "%v", err)
	}
	if d.IssuerID != "" && !issuerMatches(d.IssuerID, id) {
		return nil, invalid(id, "the object's issuer is %q", clip(d.IssuerID))
	}
	d.IssuerID = id.Issuer
	return checkRevRegDef(id, d)
}

// statusListFromLedger turns a GET_REVOC_REG_DELTA reply from the registry's start (no
// "from") into the status list of its latest entry. Indices in "issued" and "revoked" are
// taken as positions in the list, as indy-vdr's and Credo's converters take them; an index
// at or past maxCredNum makes the reply invalid.
func statusListFromLedger(id ID, timestamp int64, b []byte, def *RevocationRegistryDefinition) (*RevocationStatusList, error) {
	const what = "revocation status list of"
	res, err := readReply(id, what, b, txnGetRevocRegDelta)
	if err != nil {
		return nil, err
	}
	var data struct {
		RevocRegDefID string `json:"revocRegDefId"`
		Value         struct {
			AccumTo *struct {
				TxnTime int64 `json:"txnTime"`
				Value   struct {
					Accum string `json:"accum"`
				} `json:"value"`
			} `json:"accum_to"`
			Issued  []uint32 `json:"issued"`
			Revoked []uint32 `json:"revoked"`
		} `json:"value"`
	}
	if err := decodeJSON(res.Data, len(res.Data), &data); err != nil {
		return nil, fail(ErrInvalidObject, what, id.raw, "ledger data: %v", err)
	}
	if data.Value.AccumTo == nil {
		return nil, fail(ErrNotFound, what, id.raw, "the registry has no entry at that time")
	}
	n := def.Value.MaxCredNum
	list := make([]int8, n)
	if def.Value.IssuanceType == "ISSUANCE_ON_DEMAND" {
		for i := range list {
			list[i] = 1
		}
	}
	for _, set := range []struct {
		idx []uint32
		v   int8
	}{{data.Value.Issued, 0}, {data.Value.Revoked, 1}} {
		for _, i := range set.idx {
			if i >= n {
				return nil, fail(ErrInvalidObject, what, id.raw, "index %d outside a registry of %d", i, n)
			}
			list[i] = set.v
		}
	}
	l := &RevocationStatusList{
		RevRegDefID:        data.RevocRegDefID,
		RevocationList:     list,
		CurrentAccumulator: data.Value.AccumTo.Value.Accum,
		Timestamp:          data.Value.AccumTo.TxnTime,
	}
	if err := l.validate(); err != nil {
		return nil, fail(ErrInvalidObject, what, id.raw, "%v", err)
	}
	return checkStatusList(id, timestamp, l)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
