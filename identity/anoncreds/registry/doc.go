// Package registry fetches the public AnonCreds objects a verifier needs — schemas,
// credential definitions, revocation registry definitions and revocation status lists —
// through one interface, Registry, from pinned configuration, Indy ledgers or a Universal
// Resolver. It parses identifiers (ParseID) and checks that every object it returns is
// the one its identifier names. It feeds identity/anoncreds and depends only on it, the
// standard library and golang.org/x/sync; never on broker, api or flex.
package registry
