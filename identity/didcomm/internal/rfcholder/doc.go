// Package rfcholder is a minimal DIDComm v1 holder (wallet) written from the Aries RFCs, for
// testing the service's side of DIDComm against a peer that shares no DIDComm code with
// aries-framework-go. Customers' wallets are mostly Credo/Bifold- or ACA-Py-based; where the
// RFCs leave room, this holder does what those wallets do, and says so.
//
// What it implements, and from where:
//   - RFC 0019 encryption envelopes (authcrypt and anoncrypt, pack and unpack): envelope.go;
//   - RFC 0017 signed attachments (detached JWS, EdDSA, did:key kid): attachment.go;
//   - RFC 0434 out-of-band invitations and RFC 0023 DID Exchange 1.0 as invitee, with a
//     did:peer:1 DID and a signed did_doc~attach laid out as Credo does: invitation.go,
//     diddoc.go, exchange.go;
//   - RFC 0454 present-proof 2.0 as prover with DIF Presentation Exchange (RFC 0510):
//     present.go;
//   - an HTTP endpoint (RFC 0025) served from a loopback httptest server: holder.go.
//
// It must not import github.com/hyperledger/aries-framework-go, directly or through anything
// but the credential code of github.com/hearro/trustbroker/identity, which builds and signs
// the verifiable presentation (imports_test.go enforces this). Everything the service sends is
// untrusted input: nothing here panics on it.
//
// It is test code: keys live in memory, the endpoint is loopback HTTP, and messages are
// delivered to the test that waits for them. It lives under internal/ so nothing ships it.
package rfcholder
