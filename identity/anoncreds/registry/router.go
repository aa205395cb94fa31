package registry

import (
	"context"
	"errors"

	"github.com/hearro/trustbroker/identity/anoncreds"
)

// Routes says which source serves which ids. Every field may be nil.
type Routes struct {
	// Pinned is asked first, for every id; what it holds wins over every ledger.
	Pinned Registry
	// Indy serves legacy ids and did:indy ids (an IndyVDRProxy).
	Indy Registry
	// Methods maps a DID method ("cheqd", "webvh", "indy") to its source, for DID URL ids
	// (and did:indy ids Indy does not serve).
	Methods map[string]Registry
	// Default serves DID URL ids of any other method (a UniversalResolver).
	Default Registry
}

// Router sends each lookup to a source chosen by the id: Pinned first; then, for legacy
// and did:indy ids, Indy; for DID URLs, the source of the id's DID method, or Default. A
// source's ErrNotFound from Pinned, or ErrUnsupported from any source, moves on to the
// next; any other answer is final (a ledger's ErrNotFound is not second-guessed by a
// resolver). With no source left, it fails with ErrUnsupported. It is safe for
// concurrent use if its sources are.
type Router struct{ r Routes }

var _ Registry = (*Router)(nil)

// NewRouter returns a Router over routes.
func NewRouter(routes Routes) *Router { return &Router{r: routes} }

// sources lists the sources to ask for id, in order.
func (rt *Router) sources(id ID) []Registry {
	var out []Registry
	add := func(r Registry) {
		if r != nil {
			out = append(out, r)
		}
	}
	switch id.Form {
	case FormLegacy:
		add(rt.r.Indy)
	case FormDIDIndy:
		add(rt.r.Indy)
		add(rt.r.Methods["indy"])
		add(rt.r.Default)
	case FormDIDURL:
		if m := rt.r.Methods[id.Method]; m != nil {
			add(m)
		} else {
			add(rt.r.Default)
		}
	}
	return out
}

func route[T any](ctx context.Context, rt *Router, kind Kind, s string, ask func(Registry) (*T, error)) (*T, error) {
	id, err := parseFor(kind, s)
	if err != nil {
		return nil, err
	}
	if rt.r.Pinned != nil {
		v, err := ask(rt.r.Pinned)
		if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrUnsupported) {
			return v, err
		}
	}
	for _, src := range rt.sources(id) {
		v, err := ask(src)
		if !errors.Is(err, ErrUnsupported) {
			return v, err
		}
	}
	return nil, fail(ErrUnsupported, kind.String(), s, "no source configured for it")
}

// Schema returns the schema id names.
func (rt *Router) Schema(ctx context.Context, id string) (*anoncreds.Schema, error) {
	return route(ctx, rt, KindSchema, id, func(r Registry) (*anoncreds.Schema, error) { return r.Schema(ctx, id) })
}

// CredentialDefinition returns the credential definition id names.
func (rt *Router) CredentialDefinition(ctx context.Context, id string) (*anoncreds.CredentialDefinition, error) {
	return route(ctx, rt, KindCredentialDefinition, id, func(r Registry) (*anoncreds.CredentialDefinition, error) {
		return r.CredentialDefinition(ctx, id)
	})
}

// RevocationRegistryDefinition returns the revocation registry definition id names.
func (rt *Router) RevocationRegistryDefinition(ctx context.Context, id string) (*RevocationRegistryDefinition, error) {
	return route(ctx, rt, KindRevocationRegistryDefinition, id, func(r Registry) (*RevocationRegistryDefinition, error) {
		return r.RevocationRegistryDefinition(ctx, id)
	})
}

// RevocationStatusList returns the registry's status list at timestamp (0: now).
func (rt *Router) RevocationStatusList(ctx context.Context, revRegDefID string, timestamp int64) (*RevocationStatusList, error) {
	return route(ctx, rt, KindRevocationRegistryDefinition, revRegDefID, func(r Registry) (*RevocationStatusList, error) {
		return r.RevocationStatusList(ctx, revRegDefID, timestamp)
	})
}
