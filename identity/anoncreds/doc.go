// Package anoncreds verifies AnonCreds (Hyperledger Indy "CL signature") presentations: it
// parses, with strict limits, the JSON objects a verifier sees (schema, credential
// definition, presentation request, presentation) and checks a presentation's
// Camenisch–Lysyanskaya proof (equality proof, four-squares predicate proofs for >=, >, <=
// and <, the Fiat–Shamir challenge over the request's nonce) and how it answers the request
// (referents, attribute encodings, restrictions). The arithmetic is math/big.
//
// What a presentation proves and what it merely claims are returned apart:
// Result.Verified holds the issuer-signed values and proven predicates;
// Result.Unverified.SelfAttested holds the holder's own unproven answers.
//
// # Non-revocation
//
// Non-revocation is not verified. An AnonCreds non-revocation proof lives on the
// Barreto–Naehrig curve BN254 of Apache Milagro (AMCL), u = −(2^62 + 2^55 + 1), not on
// Ethereum's alt_bn128 (golang.org/x/crypto/bn256, gnark-crypto, cloudflare/bn256), and its
// verification needs that curve's optimal-ate pairing into Fp12 (four of the eight T̂
// values are products of pairings), plus AMCL's textual encoding of points, which prints
// AMCL's internal field representation. The only Go implementation of that curve, AMCL's
// own (apache/incubator-milagro-crypto, miracl/core), ships as templates to generate and is
// not on the Go module proxy; writing the tower, the pairing and the encoding here, tested
// against a single external vector, is a task of its own. Faking it is not an option, so
// Verify refuses: ReasonRevocationUnsupported when the request asks non-revocation of a
// revocable credential or a sub-proof carries a non-revocation proof (its challenge cannot
// be recomputed without the pairing). A revocable credential presented without such a
// request verifies with Credential.Revocable set; a caller whose policy requires
// non-revocation must refuse it.
//
// # Checks beyond the reference
//
// The reference verifiers (anoncreds-clsignatures-rs, ursa, indy-crypto) accept response
// values of any size and sign and take c_list as given. This package also requires ê, v̂,
// m̂, m̂2, û, r̂ and α̂ to be non-negative and within the sizes an honest prover produces
// (without a bound on ê, e = 1 would do as a "signature" anyone can compute), c_list to be
// exactly the proof's own commitments (A', then T_0..T_3, T_Δ of each predicate), each
// predicate proof's m̂_j to equal the equality proof's m̂ of that attribute, and raw revealed
// values to encode to the signed values (see Encode).
//
// The demo sub-package issues credentials and builds presentations, for tests and the demo
// wallet. This package depends on the standard library only, and never on broker, api,
// flex or the rest of identity. Nothing here panics on untrusted input; every function is
// safe for concurrent use.
package anoncreds
