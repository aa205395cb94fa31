package didcomm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/hyperledger/aries-framework-go/pkg/didcomm/common/service"
	"github.com/hyperledger/aries-framework-go/pkg/didcomm/protocol/didexchange"
	"github.com/mr-tron/base58"
)

// Wallets' DID documents, as RFC 0067 writes them, name the keys of their did-communication
// service by reference: Credo's did:peer:1 documents say "recipientKeys": ["#key-1"] and embed
// the key in "authentication"; ACA-Py's legacy documents give raw base58 verkeys.
// aries-framework-go can use neither: it looks a referenced key up only in verificationMethod
// and keyAgreement, so it cannot pack the DID exchange response ("keyAgreement ID …#key-1 not
// found") and abandons the exchange; and it indexes connections by the recipientKeys strings,
// so it would not recognise the wallet's later messages either. It does understand did:key.
//
// So before the library reads an exchange request, the requester's document is rewritten:
// every recipient and routing key of its DIDComm services that resolves, within the document,
// to an Ed25519 key becomes that key's did:key. Nothing else changes; the document means the
// same, in the form the library handles. The attachment's signature (which the library does
// not check) no longer covers the rewritten data and is dropped.

// normalizingExchange is the library's DID exchange service with requests normalized first.
type normalizingExchange struct {
	*didexchange.Service
}

func (s normalizingExchange) HandleInbound(msg service.DIDCommMsg, ctx service.DIDCommContext) (string, error) {
	if m, ok := msg.(service.DIDCommMsgMap); ok && msg.Type() == didexchange.RequestMsgType {
		normalizeDocAttachment(m)
	}
	return s.Service.HandleInbound(msg, ctx)
}

// normalizeDocAttachment rewrites the did_doc~attach of an exchange request in place. An
// attachment it cannot read is left alone for the library to refuse.
func normalizeDocAttachment(m service.DIDCommMsgMap) {
	att, ok := m["did_doc~attach"].(map[string]interface{})
	if !ok {
		return
	}
	data, ok := att["data"].(map[string]interface{})
	if !ok {
		return
	}
	var doc []byte
	b64, isB64 := data["base64"].(string)
	switch {
	case isB64:
		b, err := decodeBase64Any(b64)
		if err != nil {
			return
		}
		doc = b
	case data["json"] != nil:
		b, err := json.Marshal(data["json"])
		if err != nil {
			return
		}
		doc = b
	default:
		return
	}
	out, changed, err := didKeyRecipients(doc)
	if err != nil {
		return
	}
	if !changed {
		// The library reads attachment data only as standard, padded base64; RFC 0017 says
		// base64url. Re-encoding keeps the bytes, so a signature over them stays valid.
		if _, err := base64.StdEncoding.DecodeString(b64); isB64 && err != nil {
			data["base64"] = base64.StdEncoding.EncodeToString(doc)
		}
		return
	}
	delete(data, "json")
	delete(data, "jws") // it signed the document before the rewrite
	data["base64"] = base64.StdEncoding.EncodeToString(out)
}

// didKeyRecipients returns doc with the recipientKeys and routingKeys of its did-communication
// and IndyAgent services written as did:key, and whether anything changed.
func didKeyRecipients(doc []byte) ([]byte, bool, error) {
	var d map[string]interface{}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, false, err
	}
	id, _ := d["id"].(string)
	keys := ed25519Keys(d, id)
	services, _ := d["service"].([]interface{})
	changed := false
	for _, s := range services {
		svc, ok := s.(map[string]interface{})
		if !ok {
			continue
		}
		if t, _ := svc["type"].(string); t != "did-communication" && t != "IndyAgent" {
			continue
		}
		for _, field := range []string{"recipientKeys", "routingKeys"} {
			list, _ := svc[field].([]interface{})
			for i, k := range list {
				ref, _ := k.(string)
				if ref == "" || strings.HasPrefix(ref, "did:key:") {
					continue
				}
				var pub []byte
				if strings.Contains(ref, "#") {
					abs := ref
					if strings.HasPrefix(ref, "#") {
						abs = id + ref
					}
					pub = keys[abs]
				} else if raw, err := base58.Decode(ref); err == nil && len(raw) == 32 {
					pub = raw // a raw verkey
				}
				if pub != nil {
					list[i] = didKeyOf(pub)
					changed = true
				}
			}
		}
	}
	if !changed {
		return doc, false, nil
	}
	out, err := json.Marshal(d)
	return out, true, err
}

// ed25519Keys indexes the Ed25519 verification methods of a document, wherever they are
// declared (verificationMethod, the legacy publicKey, or embedded in authentication), by
// absolute id.
func ed25519Keys(d map[string]interface{}, id string) map[string][]byte {
	keys := map[string][]byte{}
	add := func(v interface{}) {
		vm, ok := v.(map[string]interface{})
		if !ok {
			return
		}
		vmID, _ := vm["id"].(string)
		if strings.HasPrefix(vmID, "#") {
			vmID = id + vmID
		}
		var pub []byte
		switch vm["type"] {
		case "Ed25519VerificationKey2018":
			b58, _ := vm["publicKeyBase58"].(string)
			pub, _ = base58.Decode(b58)
		case "Ed25519VerificationKey2020":
			mb, _ := vm["publicKeyMultibase"].(string)
			if raw, err := base58.Decode(strings.TrimPrefix(mb, "z")); err == nil && strings.HasPrefix(mb, "z") &&
				len(raw) == 34 && raw[0] == 0xed && raw[1] == 0x01 {
				pub = raw[2:]
			}
		}
		if vmID != "" && len(pub) == 32 {
			keys[vmID] = pub
		}
	}
	for _, field := range []string{"verificationMethod", "publicKey", "authentication"} {
		list, _ := d[field].([]interface{})
		for _, v := range list {
			add(v)
		}
	}
	return keys
}

func didKeyOf(pub []byte) string {
	return "did:key:z" + base58.Encode(append([]byte{0xed, 0x01}, pub...))
}

// decodeBase64Any decodes base64 in either alphabet, padded or not (RFC 0017 says base64url;
// most agents write standard base64).
func decodeBase64Any(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, errors.New("empty base64")
	}
	if strings.ContainsAny(s, "+/") {
		return base64.RawStdEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}
