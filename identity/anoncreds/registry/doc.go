// Package registry fetches the public AnonCreds objects a verifier needs — schemas,
// credential definitions, revocation registry definitions and revocation status lists —
// through one interface, Registry, and hands them to identity/anoncreds
// (anoncreds.Definitions for anoncreds.Verify).
//
// # Identifiers
//
// ParseID reads the three forms AnonCreds objects are named by: legacy Indy ids
// ("<nym>:2:<name>:<version>", "<nym>:3:CL:<schema seqNo or id>:<tag>",
// "<nym>:4:<cred def id>:CL_ACCUM:<tag>"), did:indy object DID URLs
// (".../anoncreds/v0/SCHEMA/<name>/<version>", ".../CLAIM_DEF/<seqNo>/<tag>",
// ".../REV_REG_DEF/<seqNo>/<cred def tag>/<tag>") and any other DID URL with a path (a
// did:cheqd resource, say), whose kind only the source's answer tells. It returns the
// issuer DID, the kind, the ledger namespace and the parts, bounded to MaxIDLength, and
// converts between the legacy and did:indy forms.
//
// # Sources
//
//   - Pinned: a JSON or YAML file of objects keyed by id, loaded and checked at start.
//   - IndyVDRProxy: Indy ledgers through hyperledger/indy-vdr's indy-vdr-proxy, by the
//     routes its handlers.rs serves: GET /schema/{id}, /cred_def/{id}, /rev_reg_def/{id}
//     and /rev_reg_delta/{id} (which take legacy ids and ask the ledger as of now: there is
//     no from/to parameter), and /1.0/identifiers/{did:indy DID URL}, its did:indy
//     resolver, used for a status list at a given time (REV_REG_ENTRY with "to"). One base
//     URL per did:indy namespace; legacy ids go to a configured namespace.
//   - UniversalResolver: other DID methods through a DIF Universal Resolver's
//     GET /1.0/identifiers/{DID URL}, reading a dereferencing result (contentStream, or
//     indy-vdr's contentMetadata.nodeResponse) or the bare object.
//   - Router picks a source by id: pinned first, then by form, DID method and namespace.
//   - Cache keeps answers (definitions for a day, status lists for a minute, "not found"
//     for 30 seconds, by default) and makes concurrent lookups of one id share one request.
//
// The HTTP sources require the caller's *http.Client — in the service the outbound client
// (identity/outbound), which refuses private addresses — and refuse nil and
// http.DefaultClient. Every request has a timeout (on top of the caller's context) and a
// bounded response size.
//
// # Trust
//
// What a source returns decides which key a presentation is checked against, so each
// object is checked against the id it was asked for: its own id, issuer, name, version,
// tag and schema reference must agree with what the id says (ErrInvalidObject otherwise),
// and it must parse under identity/anoncreds' limits. The id, though, is the holder's
// choice; whether its issuer is one to trust is the policy's decision, not this package's.
//
// Each source is trusted for what it serves. A pinned object is believed without any
// ledger: pinning is trusting, and whoever edits the file chooses the keys. Ledger
// replies come through indy-vdr-proxy or a resolver, and this package does not check
// their state proofs (BLS multi-signatures of the pool): it trusts the proxy, which does
// (indy-vdr checks them), so run it, or the resolver, where the service can trust it.
//
// # Not supported
//
//   - Status lists through the Universal Resolver (each method has its own query; none is
//     method-neutral). did:indy status lists go through IndyVDRProxy.
//   - Status lists at a time with a legacy-only proxy route: a timestamp other than 0 uses
//     the proxy's did:indy resolver route; a proxy without it cannot answer.
//   - Legacy credential definition ids that name their schema by id rather than sequence
//     number cannot be asked of a ledger (ErrUnsupported); pin them.
//   - Ledger revocation indices are taken as positions in the status list, as indy-vdr's
//     and Credo's own converters take them; identity/anoncreds does not verify
//     non-revocation anyway (see its package documentation), so status lists are for a
//     caller's own checks.
//   - No state-proof checking, no ledger writes, no tails files.
//
// It depends only on identity/anoncreds, the standard library, golang.org/x/sync and
// goccy/go-yaml (for pinned YAML); never on broker, api or flex. Everything here is safe
// for concurrent use, and nothing panics on untrusted input.
package registry
