package registry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// IndyVDRProxyConfig configures an IndyVDRProxy.
type IndyVDRProxyConfig struct {
	// Ledgers maps a did:indy namespace ("sovrin", "sovrin:staging", "indicio:test") to the
	// base URL of an indy-vdr-proxy serving that ledger. A proxy started for several ledgers
	// (indy-vdr-proxy --multiple-ledgers) serves each under its namespace: give
	// "https://proxy.example/sovrin" for "sovrin".
	Ledgers map[string]string
	// LegacyNamespace is the namespace whose ledger holds legacy (unqualified) ids, which
	// name no ledger themselves. Empty: legacy ids are not served (ErrUnsupported).
	LegacyNamespace string
	HTTPOptions
}

// IndyVDRProxy reads Indy ledgers through indy-vdr-proxy
// (https://github.com/hyperledger/indy-vdr, indy-vdr-proxy/src/handlers.rs). It serves
// legacy ids and did:indy ids of the configured namespaces. Routes used:
//
//	GET {base}/schema/{legacy schema id}
//	GET {base}/cred_def/{legacy cred def id}
//	GET {base}/rev_reg_def/{legacy rev reg id}
//	GET {base}/rev_reg_delta/{legacy rev reg id}          status list now
//	GET {base}/1.0/identifiers/did:indy:{ns}:{nym}/anoncreds/v0/REV_REG_ENTRY/{seqNo}/{cred def tag}/{tag}?to={RFC 3339}
//	                                                       status list at a time
//
// The first four take no parameters: the proxy asks the ledger "as of now"
// (/rev_reg_delta has no from or to). The last is the proxy's did:indy DID URL resolver,
// which builds GET_REVOC_REG_DELTA with "to". Each answer is the ledger's reply, checked
// against the requested id (see the package documentation). It is safe for concurrent use.
type IndyVDRProxy struct {
	ledgers map[string]string
	legacy  string
	get     getter
}

var _ Registry = (*IndyVDRProxy)(nil)

// NewIndyVDRProxy returns a source reading through client, which must be the service's
// outbound client (or one as careful); nil is refused.
func NewIndyVDRProxy(cfg IndyVDRProxyConfig, client *http.Client) (*IndyVDRProxy, error) {
	g, err := newGetter(client, cfg.HTTPOptions)
	if err != nil {
		return nil, err
	}
	p := &IndyVDRProxy{ledgers: map[string]string{}, legacy: cfg.LegacyNamespace, get: g}
	for ns, base := range cfg.Ledgers {
		if _, err := ParseID("did:indy:" + ns + ":11111111111111111111/anoncreds/v0/SCHEMA/a/1"); err != nil {
			return nil, fmt.Errorf("registry: indy namespace %q is not valid", clip(ns))
		}
		if p.ledgers[ns], err = checkBaseURL(base); err != nil {
			return nil, err
		}
	}
	if p.legacy != "" && p.ledgers[p.legacy] == "" {
		return nil, fmt.Errorf("registry: legacy namespace %q has no ledger URL", clip(p.legacy))
	}
	return p, nil
}

// base returns the proxy URL for id's ledger and id's legacy form.
func (p *IndyVDRProxy) base(id ID) (base, legacy string, err error) {
	ns := id.Namespace
	switch id.Form {
	case FormLegacy:
		ns = p.legacy
	case FormDIDIndy:
	default:
		return "", "", fail(ErrUnsupported, id.Kind.String(), id.raw, "indy-vdr-proxy reads only Indy ids")
	}
	base = p.ledgers[ns]
	if base == "" {
		return "", "", fail(ErrUnsupported, id.Kind.String(), id.raw, "no ledger configured for namespace %q", clip(ns))
	}
	legacy, ok := id.Legacy()
	if !ok {
		return "", "", fail(ErrUnsupported, id.Kind.String(), id.raw, "no legacy form to ask the ledger with")
	}
	return base, legacy, nil
}

func (p *IndyVDRProxy) fetch(ctx context.Context, kind Kind, s, route string) (ID, []byte, error) {
	id, err := parseFor(kind, s)
	if err != nil {
		return ID{}, nil, err
	}
	if id.Kind == KindCredentialDefinition && !isSeqNo(id.SchemaRef) {
		return ID{}, nil, fail(ErrUnsupported, kind.String(), s, "a ledger finds credential definitions by schema sequence number")
	}
	base, legacy, err := p.base(id)
	if err != nil {
		return ID{}, nil, err
	}
	b, err := p.get.get(ctx, kind.String(), s, base+"/"+route+"/"+url.PathEscape(legacy), "application/json")
	return id, b, err
}

// Schema reads a schema from the ledger.
func (p *IndyVDRProxy) Schema(ctx context.Context, id string) (*anoncreds.Schema, error) {
	pid, b, err := p.fetch(ctx, KindSchema, id, "schema")
	if err != nil {
		return nil, err
	}
	return schemaFromLedger(pid, b)
}

// CredentialDefinition reads a credential definition from the ledger.
func (p *IndyVDRProxy) CredentialDefinition(ctx context.Context, id string) (*anoncreds.CredentialDefinition, error) {
	pid, b, err := p.fetch(ctx, KindCredentialDefinition, id, "cred_def")
	if err != nil {
		return nil, err
	}
	return credDefFromLedger(pid, b)
}

// RevocationRegistryDefinition reads a revocation registry definition from the ledger.
func (p *IndyVDRProxy) RevocationRegistryDefinition(ctx context.Context, id string) (*RevocationRegistryDefinition, error) {
	pid, b, err := p.fetch(ctx, KindRevocationRegistryDefinition, id, "rev_reg_def")
	if err != nil {
		return nil, err
	}
	return revRegDefFromLedger(pid, b)
}

// RevocationStatusList reads the registry's definition and its delta from the start up to
// timestamp (0: now), and builds the status list of the latest entry.
func (p *IndyVDRProxy) RevocationStatusList(ctx context.Context, revRegDefID string, timestamp int64) (*RevocationStatusList, error) {
	const what = "revocation status list of"
	if timestamp < 0 {
		return nil, fail(ErrUnsupported, what, revRegDefID, "negative timestamp")
	}
	def, err := p.RevocationRegistryDefinition(ctx, revRegDefID)
	if err != nil {
		return nil, err
	}
	id, _ := ParseID(revRegDefID)
	base, legacy, err := p.base(id)
	if err != nil {
		return nil, err
	}
	var b []byte
	if timestamp == 0 {
		b, err = p.get.get(ctx, what, revRegDefID, base+"/rev_reg_delta/"+url.PathEscape(legacy), "application/json")
		if err != nil {
			return nil, err
		}
		return statusListFromLedger(id, 0, b, def)
	}
	ns := id.Namespace
	if id.Form == FormLegacy {
		ns = p.legacy
	}
	entry := fmt.Sprintf("did:indy:%s:%s/anoncreds/v0/REV_REG_ENTRY/%s/%s/%s?to=%s", ns, id.Nym, id.SchemaRef,
		url.PathEscape(id.Tag), url.PathEscape(id.RevTag), time.Unix(timestamp, 0).UTC().Format(time.RFC3339))
	b, err = p.get.get(ctx, what, revRegDefID, base+"/1.0/identifiers/"+entry, "application/json")
	if err != nil {
		return nil, err
	}
	res, err := readDereferencing(id, what, b)
	if err != nil {
		return nil, err
	}
	if res.nodeResponse == nil || res.objectType != "REVOC_REG_DELTA" {
		return nil, fail(ErrInvalidObject, what, revRegDefID, "the resolver did not answer with a ledger delta")
	}
	return statusListFromLedger(id, timestamp, res.nodeResponse, def)
}
