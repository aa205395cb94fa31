package registry

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// UniversalResolver dereferences AnonCreds object DID URLs through a DIF Universal
// Resolver (https://github.com/decentralized-identity/universal-resolver):
//
//	GET {endpoint}/1.0/identifiers/{DID URL}
//
// It accepts three shapes of answer:
//
//   - a DID URL dereferencing result whose contentMetadata carries indy-vdr's
//     nodeResponse (the did:indy driver, and indy-vdr-proxy's own /1.0/identifiers): the
//     ledger reply is read as IndyVDRProxy reads it;
//   - a dereferencing result whose contentStream is the object in the AnonCreds
//     specification's shape (a did:cheqd resource, say), as a JSON object or a string;
//   - the object itself, as a resolver returns a resource's bytes.
//
// A dereferencingMetadata error "notFound" is ErrNotFound, "invalidDidUrl" ErrMalformedID.
// Legacy ids name no DID and are not served (ErrUnsupported), nor are status lists: each
// method finds a registry's state at a time its own way (did:cheqd by resource name and
// resourceVersionTime, did:indy by REV_REG_ENTRY and "to"), and no method-neutral query
// exists. It is safe for concurrent use.
type UniversalResolver struct {
	endpoint string
	get      getter
}

var _ Registry = (*UniversalResolver)(nil)

// NewUniversalResolver returns a source asking the Universal Resolver at endpoint (such as
// https://resolver.example.com) through client, which must be the service's outbound
// client (or one as careful); nil is refused.
func NewUniversalResolver(endpoint string, client *http.Client, o HTTPOptions) (*UniversalResolver, error) {
	g, err := newGetter(client, o)
	if err != nil {
		return nil, err
	}
	base, err := checkBaseURL(endpoint)
	if err != nil {
		return nil, err
	}
	return &UniversalResolver{endpoint: base, get: g}, nil
}

const resolutionAccept = `application/ld+json;profile="https://w3id.org/did-resolution", application/json;q=0.9, */*;q=0.1`

// dereferenced is what a resolver answered: either an indy ledger reply or an object.
type dereferenced struct {
	nodeResponse json.RawMessage
	objectType   string
	content      []byte
}

// readDereferencing reads a Universal Resolver answer (see UniversalResolver).
func readDereferencing(id ID, what string, b []byte) (*dereferenced, error) {
	var r struct {
		Context               json.RawMessage `json:"@context"`
		DereferencingMetadata *struct {
			Error string `json:"error"`
		} `json:"dereferencingMetadata"`
		ContentStream   json.RawMessage `json:"contentStream"`
		ContentMetadata *struct {
			NodeResponse json.RawMessage `json:"nodeResponse"`
			ObjectType   string          `json:"objectType"`
		} `json:"contentMetadata"`
	}
	if err := decodeJSON(b, len(b), &r); err != nil {
		return nil, fail(ErrInvalidObject, what, id.raw, "%v", err)
	}
	if m := r.DereferencingMetadata; m != nil && m.Error != "" {
		switch m.Error {
		case "notFound":
			return nil, fail(ErrNotFound, what, id.raw, "resolver: notFound")
		case "invalidDidUrl", "invalidDid":
			return nil, fail(ErrMalformedID, what, id.raw, "resolver: %s", m.Error)
		}
		return nil, fail(ErrUnavailable, what, id.raw, "resolver: %s", clip(m.Error))
	}
	if m := r.ContentMetadata; m != nil && len(m.NodeResponse) > 0 && string(m.NodeResponse) != "null" {
		return &dereferenced{nodeResponse: m.NodeResponse, objectType: m.ObjectType}, nil
	}
	if c := r.ContentStream; len(c) > 0 && string(c) != "null" {
		if c[0] == '"' {
			var s string
			if err := json.Unmarshal(c, &s); err != nil {
				return nil, fail(ErrInvalidObject, what, id.raw, "contentStream: %v", err)
			}
			c = json.RawMessage(s)
		}
		return &dereferenced{content: c}, nil
	}
	if r.DereferencingMetadata != nil || r.ContentMetadata != nil || len(r.ContentStream) > 0 {
		return nil, fail(ErrNotFound, what, id.raw, "resolver answered with no content")
	}
	return &dereferenced{content: b}, nil
}

func (u *UniversalResolver) fetch(ctx context.Context, kind Kind, s string) (ID, *dereferenced, error) {
	id, err := parseFor(kind, s)
	if err != nil {
		return ID{}, nil, err
	}
	if id.Form == FormLegacy {
		return ID{}, nil, fail(ErrUnsupported, kind.String(), s, "a legacy id names no DID to resolve")
	}
	// ParseID admits only characters a DID URL path may hold, and no query or fragment,
	// so the id goes into the request path as it is.
	b, err := u.get.get(ctx, kind.String(), s, u.endpoint+"/1.0/identifiers/"+s, resolutionAccept)
	if err != nil {
		return ID{}, nil, err
	}
	d, err := readDereferencing(id, kind.String(), b)
	return id, d, err
}

// Schema dereferences a schema's DID URL.
func (u *UniversalResolver) Schema(ctx context.Context, id string) (*anoncreds.Schema, error) {
	pid, d, err := u.fetch(ctx, KindSchema, id)
	if err != nil {
		return nil, err
	}
	if d.nodeResponse != nil {
		return schemaFromLedger(pid, d.nodeResponse)
	}
	s, err := anoncreds.ParseSchema(d.content)
	if err != nil {
		return nil, fail(ErrInvalidObject, "schema", id, "%v", err)
	}
	return checkSchema(pid, s)
}

// CredentialDefinition dereferences a credential definition's DID URL.
func (u *UniversalResolver) CredentialDefinition(ctx context.Context, id string) (*anoncreds.CredentialDefinition, error) {
	pid, d, err := u.fetch(ctx, KindCredentialDefinition, id)
	if err != nil {
		return nil, err
	}
	if d.nodeResponse != nil {
		return credDefFromLedger(pid, d.nodeResponse)
	}
	c, err := anoncreds.ParseCredentialDefinition(d.content)
	if err != nil {
		return nil, fail(ErrInvalidObject, "credential definition", id, "%v", err)
	}
	return checkCredDef(pid, c)
}

// RevocationRegistryDefinition dereferences a revocation registry definition's DID URL.
func (u *UniversalResolver) RevocationRegistryDefinition(ctx context.Context, id string) (*RevocationRegistryDefinition, error) {
	pid, d, err := u.fetch(ctx, KindRevocationRegistryDefinition, id)
	if err != nil {
		return nil, err
	}
	if d.nodeResponse != nil {
		return revRegDefFromLedger(pid, d.nodeResponse)
	}
	r, err := ParseRevocationRegistryDefinition(d.content)
	if err != nil {
		return nil, fail(ErrInvalidObject, "revocation registry definition", id, "%v", err)
	}
	return checkRevRegDef(pid, r)
}

// RevocationStatusList is not supported through a Universal Resolver (see the type's
// documentation).
func (u *UniversalResolver) RevocationStatusList(ctx context.Context, revRegDefID string, timestamp int64) (*RevocationStatusList, error) {
	if _, err := parseFor(KindRevocationRegistryDefinition, revRegDefID); err != nil {
		return nil, err
	}
	return nil, fail(ErrUnsupported, "revocation status list of", revRegDefID, "a Universal Resolver has no method-neutral status list query")
}
