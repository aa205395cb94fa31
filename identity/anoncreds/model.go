package anoncreds

import "encoding/json"

// Schema is an AnonCreds schema: the names of a credential's attributes.
type Schema struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	Version   string   `json:"version"`
	AttrNames []string `json:"attrNames"`
	IssuerID  string   `json:"issuerId,omitempty"`
}

// CredentialDefinition is an issuer's public key for one schema. Only the CL primary key is
// used for verification; the revocation key is kept as raw JSON because verifying
// non-revocation needs a pairing this package does not implement.
type CredentialDefinition struct {
	ID       string                    `json:"id,omitempty"`
	SchemaID string                    `json:"schemaId,omitempty"`
	Type     string                    `json:"type"`
	Tag      string                    `json:"tag,omitempty"`
	IssuerID string                    `json:"issuerId,omitempty"`
	Value    CredentialDefinitionValue `json:"value"`
}

// CredentialDefinitionValue holds the keys.
type CredentialDefinitionValue struct {
	Primary    PrimaryPublicKey `json:"primary"`
	Revocation json.RawMessage  `json:"revocation,omitempty"`
}

// Revocable reports whether the definition carries a revocation key.
func (d *CredentialDefinition) Revocable() bool {
	r := d.Value.Revocation
	return len(r) > 0 && string(r) != "null"
}

// PrimaryPublicKey is the issuer's CL public key: n = p·q with p, q safe primes, and
// quadratic residues S, Z, R_i (one per attribute and one for the link secret,
// "master_secret") and Rctxt (for the credential context m2).
type PrimaryPublicKey struct {
	N     *Num            `json:"n"`
	S     *Num            `json:"s"`
	R     map[string]*Num `json:"r"`
	Rctxt *Num            `json:"rctxt"`
	Z     *Num            `json:"z"`
	// Rms is the link-secret base in definitions older than the "master_secret" entry of R.
	Rms *Num `json:"rms,omitempty"`
}

// PresentationRequest is what the verifier asked for (AnonCreds "proof request").
type PresentationRequest struct {
	Nonce               string                      `json:"nonce"`
	Name                string                      `json:"name,omitempty"`
	Version             string                      `json:"version,omitempty"`
	Ver                 string                      `json:"ver,omitempty"`
	RequestedAttributes map[string]AttributeRequest `json:"requested_attributes"`
	RequestedPredicates map[string]PredicateRequest `json:"requested_predicates"`
	NonRevoked          *NonRevokedInterval         `json:"non_revoked,omitempty"`
}

// AttributeRequest asks for one attribute (Name) or a group of attributes from one
// credential (Names). Exactly one of the two is set.
type AttributeRequest struct {
	Name         string              `json:"name,omitempty"`
	Names        []string            `json:"names,omitempty"`
	Restrictions json.RawMessage     `json:"restrictions,omitempty"`
	NonRevoked   *NonRevokedInterval `json:"non_revoked,omitempty"`
}

// PredicateRequest asks for a proof that attribute Name compares to PValue by PType, one
// of ">=", ">", "<=", "<".
type PredicateRequest struct {
	Name         string              `json:"name"`
	PType        string              `json:"p_type"`
	PValue       int32               `json:"p_value"`
	Restrictions json.RawMessage     `json:"restrictions,omitempty"`
	NonRevoked   *NonRevokedInterval `json:"non_revoked,omitempty"`
}

// NonRevokedInterval asks for proof of non-revocation between two Unix times.
type NonRevokedInterval struct {
	From *uint64 `json:"from,omitempty"`
	To   *uint64 `json:"to,omitempty"`
}

// Presentation is the holder's answer (AnonCreds "proof").
type Presentation struct {
	Proof          Proof          `json:"proof"`
	RequestedProof RequestedProof `json:"requested_proof"`
	Identifiers    []Identifier   `json:"identifiers"`
}

// Identifier names the schema, credential definition and (for revocable credentials) the
// revocation registry and its timestamp behind one sub-proof.
type Identifier struct {
	SchemaID  string  `json:"schema_id"`
	CredDefID string  `json:"cred_def_id"`
	RevRegID  *string `json:"rev_reg_id"`
	Timestamp *uint64 `json:"timestamp"`
}

// Proof is the CL proof: one sub-proof per credential and the Fiat–Shamir challenge.
type Proof struct {
	Proofs          []SubProof      `json:"proofs"`
	AggregatedProof AggregatedProof `json:"aggregated_proof"`
}

// SubProof proves possession of one credential.
type SubProof struct {
	PrimaryProof  PrimaryProof    `json:"primary_proof"`
	NonRevocProof json.RawMessage `json:"non_revoc_proof,omitempty"`
}

// HasNonRevocProof reports whether the sub-proof carries a non-revocation proof.
func (s *SubProof) HasNonRevocProof() bool {
	r := s.NonRevocProof
	return len(r) > 0 && string(r) != "null"
}

// PrimaryProof is the equality proof and the predicate proofs of one credential.
type PrimaryProof struct {
	EqProof  EqProof   `json:"eq_proof"`
	GeProofs []GeProof `json:"ge_proofs"`
}

// EqProof proves knowledge of a CL signature (A, e, v) on the credential, revealing some
// attributes (their encoded values) and hiding the others (m̂ responses).
type EqProof struct {
	RevealedAttrs map[string]*Num `json:"revealed_attrs"`
	APrime        *Num            `json:"a_prime"`
	E             *Num            `json:"e"`
	V             *Num            `json:"v"`
	M             map[string]*Num `json:"m"`
	M1            *Num            `json:"m1,omitempty"` // legacy name of m["master_secret"]
	M2            *Num            `json:"m2"`
}

// GeProof proves an inequality on one hidden attribute by Lagrange's four squares. The
// name is historical: it carries all four predicate types.
type GeProof struct {
	U         map[string]*Num `json:"u"`
	R         map[string]*Num `json:"r"`
	Mj        *Num            `json:"mj"`
	Alpha     *Num            `json:"alpha"`
	T         map[string]*Num `json:"t"`
	Predicate Predicate       `json:"predicate"`
}

// Predicate is the predicate a GeProof proves, in the CL library's spelling.
type Predicate struct {
	AttrName string `json:"attr_name"`
	PType    string `json:"p_type"` // "GE", "GT", "LE" or "LT"
	Value    int32  `json:"value"`
}

// AggregatedProof carries the challenge and the commitments it was computed over.
type AggregatedProof struct {
	CHash *Num      `json:"c_hash"`
	CList [][]uint8 `json:"-"`
}

// RequestedProof maps the request's referents to the sub-proofs that answer them.
type RequestedProof struct {
	RevealedAttrs      map[string]RevealedAttrInfo      `json:"revealed_attrs"`
	RevealedAttrGroups map[string]RevealedAttrGroupInfo `json:"revealed_attr_groups,omitempty"`
	SelfAttestedAttrs  map[string]string                `json:"self_attested_attrs"`
	UnrevealedAttrs    map[string]SubProofReferent      `json:"unrevealed_attrs"`
	Predicates         map[string]SubProofReferent      `json:"predicates"`
}

// RevealedAttrInfo is one revealed attribute: its raw value and its encoding.
type RevealedAttrInfo struct {
	SubProofIndex uint32 `json:"sub_proof_index"`
	Raw           string `json:"raw"`
	Encoded       string `json:"encoded"`
}

// RevealedAttrGroupInfo is a group of revealed attributes from one credential.
type RevealedAttrGroupInfo struct {
	SubProofIndex uint32                    `json:"sub_proof_index"`
	Values        map[string]AttributeValue `json:"values"`
}

// AttributeValue is a raw value and its encoding.
type AttributeValue struct {
	Raw     string `json:"raw"`
	Encoded string `json:"encoded"`
}

// SubProofReferent points at a sub-proof.
type SubProofReferent struct {
	SubProofIndex uint32 `json:"sub_proof_index"`
}
