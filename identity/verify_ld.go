package identity

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/aries-framework-go/component/kmscrypto/crypto/primitive/bbs12381g2pub"
	"github.com/mr-tron/base58"
)

// Data Integrity proof types.
const (
	ProofEd25519Signature2018     = "Ed25519Signature2018"
	ProofEd25519Signature2020     = "Ed25519Signature2020"
	ProofJsonWebSignature2020     = "JsonWebSignature2020"
	ProofBbsBlsSignature2020      = "BbsBlsSignature2020"
	ProofBbsBlsSignatureProof2020 = "BbsBlsSignatureProof2020"
)

// SupportedProofTypes are the Data Integrity proof types the verifier checks on presentations
// and credentials.
var SupportedProofTypes = []string{ProofEd25519Signature2020, ProofEd25519Signature2018, ProofJsonWebSignature2020}

// SupportedBBSProofTypes are the BBS+ proof types the verifier checks on credentials: only a
// derived proof. The issuer's BbsBlsSignature2020 itself is refused (unsupported_format): it
// discloses every claim, whatever the policy asks for, and its signature is the same at every
// verifier it is shown to, a correlation handle, which is what BBS+ exists to avoid. A wallet
// that holds one can always derive a proof, revealing as much as the policy asks.
var SupportedBBSProofTypes = []string{ProofBbsBlsSignatureProof2020}

// ldProof is one Data Integrity proof: as written, and decoded.
type ldProof struct {
	raw        map[string]any
	typ        string
	purpose    string
	method     string
	challenge  string
	domain     string
	proofValue []byte
	jws        string
	nonce      []byte
}

// parseLD runs the cheap checks of a JSON-LD presentation.
func (v *Verifier) parseLD(vp map[string]any, req Request) (*presented, error) {
	if !slices.Contains(types(vp), "VerifiablePresentation") {
		return nil, reject(ReasonMalformed, "type does not include VerifiablePresentation")
	}
	holder, _ := vp["holder"].(string)
	if holder == "" {
		return nil, reject(ReasonHolderMismatch, "presentation names no holder")
	}
	vpProofs, err := ldProofs(vp, "presentation", SupportedProofTypes)
	if err != nil {
		return nil, err
	}
	for _, p := range vpProofs {
		if p.purpose != purposeAuthentication {
			return nil, reject(ReasonMalformed, "presentation proof purpose is %q, want %q", truncate(p.purpose), purposeAuthentication)
		}
		if p.challenge != req.Challenge {
			return nil, reject(ReasonChallengeMismatch, "presentation proof challenge is not this session's")
		}
		if p.domain != req.Domain {
			return nil, reject(ReasonDomainMismatch, "presentation proof domain is %q, want %q", truncate(p.domain), req.Domain)
		}
		if didOf(p.method) != holder {
			return nil, reject(ReasonHolderMismatch, "presentation is signed by %s, not by its holder", truncate(p.method))
		}
	}
	vcs, err := ldCredentials(vp)
	if err != nil {
		return nil, err
	}
	type docProofs struct {
		doc    map[string]any
		proofs []ldProof
		signer string
	}
	docs := []docProofs{{vp, vpProofs, holder}}
	out := &presented{holder: holder}
	for _, vc := range vcs {
		c, proofs, err := v.parseLDCredential(vc, holder, req)
		if err != nil {
			return nil, err
		}
		out.creds = append(out.creds, c)
		docs = append(docs, docProofs{vc, proofs, c.issuer})
	}
	out.verifyProofs = func(ctx context.Context) error {
		// Canonicalise everything first: a document with undefined terms is malformed,
		// whatever its signatures say.
		data := make([][][]byte, len(docs))
		for i, d := range docs {
			var docCanon string
			for _, p := range d.proofs {
				vd, err := v.ldVerifyData(d.doc, p, &docCanon)
				if err != nil {
					return err
				}
				data[i] = append(data[i], vd)
			}
		}
		for i, d := range docs {
			purpose, mismatch := purposeAssertionMethod, ReasonIssuerMismatch
			if i == 0 {
				purpose, mismatch = purposeAuthentication, ReasonHolderMismatch
			}
			keys := proofKeys{ctx: ctx, resolver: v.resolver, did: d.signer, purpose: purpose, mismatch: mismatch}
			for j, p := range d.proofs {
				m, err := keys.resolve(p.method)
				if err != nil {
					return err
				}
				if err := checkLDSignature(p, m, data[i][j]); err != nil {
					return reject(ReasonBadSignature, "%s by %s does not verify", p.typ, truncate(p.method))
				}
			}
		}
		return nil
	}
	return out, nil
}

// parseLDCredential runs the checks of one JSON-LD credential that need no cryptography.
func (v *Verifier) parseLDCredential(vc map[string]any, holder string, req Request) (*presentedCredential, []ldProof, error) {
	c := &presentedCredential{format: FormatLDP, types: types(vc)}
	if !slices.Contains(c.types, "VerifiableCredential") {
		return nil, nil, reject(ReasonMalformed, "credential type does not include VerifiableCredential")
	}
	c.id, _ = vc["id"].(string)
	switch iss := vc["issuer"].(type) {
	case string:
		c.issuer = iss
	case map[string]any:
		c.issuer, _ = iss["id"].(string)
	}
	if c.issuer == "" {
		return nil, nil, reject(ReasonMalformed, "credential has no issuer")
	}
	proofs, err := ldProofs(vc, "credential", append(slices.Clone(SupportedProofTypes), SupportedBBSProofTypes...))
	if err != nil {
		return nil, nil, err
	}
	for _, p := range proofs {
		if p.purpose != purposeAssertionMethod {
			return nil, nil, reject(ReasonMalformed, "credential proof purpose is %q, want %q", truncate(p.purpose), purposeAssertionMethod)
		}
		if didOf(p.method) != c.issuer {
			return nil, nil, reject(ReasonIssuerMismatch, "credential is signed by %s, not by its issuer", truncate(p.method))
		}
		if slices.Contains(SupportedBBSProofTypes, p.typ) {
			c.format = FormatBBS
		}
		if c.proofType == "" {
			c.proofType = p.typ
		}
	}

	if firstContext(vc) == CredentialsV2Context {
		// VC Data Model 2.0: validFrom and validUntil, both optional. issuanceDate and
		// expirationDate are not 2.0 terms; canonicalisation refuses them as undefined.
		if c.validFrom, err = timeField(vc, "validFrom"); err != nil {
			return nil, nil, err
		}
		if c.validUntil, err = timeField(vc, "validUntil"); err != nil {
			return nil, nil, err
		}
		c.issuedAt = c.validFrom
	} else {
		if c.issuedAt, err = timeField(vc, "issuanceDate", "validFrom"); err != nil {
			return nil, nil, err
		}
		if c.issuedAt.IsZero() {
			return nil, nil, reject(ReasonMalformed, "credential has no issuanceDate")
		}
		c.validFrom = c.issuedAt
		if vf, err := timeField(vc, "validFrom"); err != nil {
			return nil, nil, err
		} else if !vf.IsZero() {
			c.validFrom = vf
		}
		if c.validUntil, err = timeField(vc, "expirationDate", "validUntil"); err != nil {
			return nil, nil, err
		}
	}
	if err := v.checkValidity(c, req.Policy); err != nil {
		return nil, nil, err
	}

	subject, ok := vc["credentialSubject"].(map[string]any)
	if !ok {
		if list, isList := vc["credentialSubject"].([]any); isList && len(list) == 1 {
			subject, ok = list[0].(map[string]any)
		}
	}
	if !ok {
		return nil, nil, reject(ReasonMalformed, "credential has no single credentialSubject object")
	}
	subjectID, _ := subject["id"].(string)
	if !subjectBound(subjectID, holder, req) {
		return nil, nil, reject(ReasonHolderMismatch, "credential subject is not the presentation's holder")
	}
	c.claims = make(map[string]any, len(subject))
	for k, val := range subject {
		if k != "id" && k != "type" && k != "@context" {
			c.claims[k] = val
		}
	}
	if c.status, err = statusEntries(vc["credentialStatus"]); err != nil {
		return nil, nil, err
	}
	return c, proofs, nil
}

// firstContext returns the first entry of a document's @context, which names the data model
// version of a credential or presentation.
func firstContext(doc map[string]any) string {
	switch c := doc["@context"].(type) {
	case string:
		return c
	case []any:
		if len(c) > 0 {
			s, _ := c[0].(string)
			return s
		}
	}
	return ""
}

// ldProofs returns the document's proofs, refusing documents without one and proof types not
// in supported.
func ldProofs(doc map[string]any, what string, supported []string) ([]ldProof, error) {
	raw, ok := doc["proof"]
	if !ok || raw == nil {
		return nil, reject(ReasonMissingProof, "%s has no proof", what)
	}
	var entries []any
	switch p := raw.(type) {
	case map[string]any:
		entries = []any{p}
	case []any:
		entries = p
	default:
		return nil, reject(ReasonMalformed, "%s proof is neither an object nor an array", what)
	}
	if len(entries) == 0 {
		return nil, reject(ReasonMissingProof, "%s has no proof", what)
	}
	// The proof type decides how its value is decoded: check every type first.
	for _, e := range entries {
		m, isMap := e.(map[string]any)
		if !isMap {
			return nil, reject(ReasonMalformed, "%s proof is not an object", what)
		}
		if t, _ := m["type"].(string); !slices.Contains(supported, t) {
			if t == ProofBbsBlsSignature2020 {
				return nil, reject(ReasonUnsupportedFormat, "%s proof is a BbsBlsSignature2020, which discloses every claim: present a %s derived from it", what, ProofBbsBlsSignatureProof2020)
			}
			return nil, reject(ReasonUnsupportedFormat, "%s proof type %q is not supported", what, truncate(t))
		}
	}
	out := make([]ldProof, 0, len(entries))
	for _, e := range entries {
		m := e.(map[string]any)
		p := ldProof{raw: m}
		p.typ, _ = m["type"].(string)
		p.purpose, _ = m["proofPurpose"].(string)
		p.method, _ = m["verificationMethod"].(string)
		p.challenge, _ = m["challenge"].(string)
		p.domain, _ = m["domain"].(string)
		if p.method == "" {
			return nil, reject(ReasonMalformed, "%s proof has no verificationMethod", what)
		}
		created, _ := m["created"].(string)
		if _, err := time.Parse(time.RFC3339Nano, created); err != nil {
			return nil, reject(ReasonMalformed, "%s proof has no valid created date", what)
		}
		if pv, isString := m["proofValue"].(string); isString && pv != "" {
			b, err := decodeProofValue(pv, p.typ)
			if err != nil {
				return nil, reject(ReasonMalformed, "%s proofValue: %v", what, err)
			}
			p.proofValue = b
		}
		p.jws, _ = m["jws"].(string)
		if len(p.proofValue) == 0 && p.jws == "" {
			return nil, reject(ReasonMalformed, "%s proof has neither proofValue nor jws", what)
		}
		if n, isString := m["nonce"].(string); isString && n != "" {
			b, err := base64.StdEncoding.DecodeString(n)
			if err != nil {
				return nil, reject(ReasonMalformed, "%s proof nonce is not base64", what)
			}
			p.nonce = b
		}
		out = append(out, p)
	}
	return out, nil
}

func decodeProofValue(s, proofType string) ([]byte, error) {
	if proofType == ProofEd25519Signature2020 {
		if !strings.HasPrefix(s, "z") {
			return nil, errors.New("not base58btc multibase")
		}
		return base58.Decode(s[1:])
	}
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// Proof options contexts of detached-JWS proofs, as aries-framework-go and jsonld-signatures
// canonicalise them.
var jwsProofContext = []any{"https://w3id.org/security/v2", "https://w3id.org/security/jws/v1"}

// ldVerifyData returns the data a proof signs: the canonical proof options and the canonical
// document without its proofs (*docCanon caches the latter across a document's proofs).
func (v *Verifier) ldVerifyData(doc map[string]any, p ldProof, docCanon *string) ([]byte, error) {
	opts := make(map[string]any, len(p.raw)+1)
	for k, val := range p.raw {
		opts[k] = val
	}
	jws := p.jws != "" && len(p.proofValue) == 0
	if jws {
		delete(opts, "jws")
		delete(opts, "proofValue")
		opts["@context"] = jwsProofContext
	} else {
		for _, k := range []string{"id", "proofValue", "jws", "nonce"} {
			delete(opts, k)
		}
		if _, ok := opts["@context"]; !ok {
			opts["@context"] = doc["@context"]
		}
		if p.typ == ProofBbsBlsSignatureProof2020 {
			opts["type"] = ProofBbsBlsSignature2020
		}
	}
	optsCanon, err := v.canon.canonicalize(opts)
	if err != nil {
		return nil, reject(ReasonMalformed, "proof options are not valid JSON-LD with known contexts: %v", err)
	}
	if *docCanon == "" {
		unsigned := make(map[string]any, len(doc))
		for k, val := range doc {
			if k != "proof" {
				unsigned[k] = val
			}
		}
		if *docCanon, err = v.canon.canonicalize(unsigned); err != nil {
			return nil, reject(ReasonMalformed, "document is not valid JSON-LD with known contexts: %v", err)
		}
	}
	switch {
	case p.typ == ProofBbsBlsSignatureProof2020 || p.typ == ProofBbsBlsSignature2020:
		return []byte(optsCanon + *docCanon), nil
	case jws:
		header, _, ok := strings.Cut(p.jws, ".")
		if !ok {
			return nil, reject(ReasonMalformed, "proof jws is not a detached JWS")
		}
		h1, h2 := sha256.Sum256([]byte(optsCanon)), sha256.Sum256([]byte(*docCanon))
		return append(append([]byte(header+"."), h1[:]...), h2[:]...), nil
	default:
		h1, h2 := sha256.Sum256([]byte(optsCanon)), sha256.Sum256([]byte(*docCanon))
		return append(h1[:], h2[:]...), nil
	}
}

// checkLDSignature verifies a proof's signature over data with the key m.
func checkLDSignature(p ldProof, m VerificationMethod, data []byte) error {
	switch p.typ {
	case ProofBbsBlsSignatureProof2020:
		if m.KeyCurve() != CurveBLS12381G2 || len(p.proofValue) == 0 {
			return errors.New("a BBS+ proof needs a BLS12-381 G2 key and a proofValue")
		}
		return bbs12381g2pub.New().VerifyProof(bbsMessages(string(data), true), p.proofValue, p.nonce, m.PublicKey)
	case ProofBbsBlsSignature2020:
		return errors.New("an underived BBS+ signature is not accepted") // ldProofs refuses it first
	}
	if len(p.proofValue) > 0 {
		if p.typ == ProofJsonWebSignature2020 || m.KeyCurve() != CurveEd25519 {
			return errors.New("proofValue needs an Ed25519 key")
		}
		if len(m.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(m.PublicKey, data, p.proofValue) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	if p.typ == ProofEd25519Signature2020 {
		return errors.New("Ed25519Signature2020 proofs carry a proofValue")
	}
	parts := strings.Split(p.jws, ".")
	if len(parts) != 3 || parts[1] != "" {
		return errors.New("not a detached JWS")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return err
	}
	var h struct {
		Alg  string   `json:"alg"`
		B64  *bool    `json:"b64"`
		Crit []string `json:"crit"`
	}
	if err := json.Unmarshal(hb, &h); err != nil || h.B64 == nil || *h.B64 || !slices.Equal(h.Crit, []string{"b64"}) {
		return errors.New("JWS header is not an unencoded-payload header")
	}
	if p.typ == ProofEd25519Signature2018 && h.Alg != AlgEdDSA {
		return errors.New("Ed25519Signature2018 is EdDSA")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	return verifySignature(m, h.Alg, data, sig)
}

// bbsMessages splits canonical N-Quads into BBS+ messages; a derived proof's revealed
// document names blank nodes urn:bnid:_:c14nN, which are turned back into _:c14nN.
func bbsMessages(nquads string, derived bool) [][]byte {
	rows := strings.Split(nquads, "\n")
	msgs := make([][]byte, 0, len(rows))
	for _, row := range rows {
		if strings.TrimSpace(row) == "" {
			continue
		}
		if derived {
			row = fromBNID(row)
		}
		msgs = append(msgs, []byte(row))
	}
	return msgs
}

func fromBNID(row string) string {
	const placeholder = "<urn:bnid:_:c14n"
	i := strings.Index(row, placeholder)
	if i < 0 {
		return row
	}
	j := strings.Index(row[i:], ">")
	if j < 0 {
		return row
	}
	j += i
	return row[:i] + row[i+len("<urn:bnid:"):j] + row[j+1:]
}

// proofKeys resolves the key a proof names, and only if it belongs to the expected signer and
// is authorised for the proof's purpose.
type proofKeys struct {
	ctx      context.Context
	resolver Resolver
	did      string
	purpose  string
	mismatch Reason
}

func (k proofKeys) resolve(methodID string) (VerificationMethod, error) {
	if didOf(methodID) != k.did || !strings.Contains(methodID, "#") {
		return VerificationMethod{}, reject(k.mismatch, "key %s does not belong to %s", truncate(methodID), truncate(k.did))
	}
	doc, err := k.resolver.Resolve(k.ctx, k.did)
	if err != nil {
		if ReasonOf(err) == "" {
			return VerificationMethod{}, reject(ReasonUnresolvableDID, "%s: %v", truncate(k.did), err)
		}
		return VerificationMethod{}, err
	}
	m, ok := doc.Method(methodID)
	if !ok {
		// A relative reference (#key-1) in the document is also an exact match.
		frag := methodID[strings.Index(methodID, "#"):]
		if m, ok = doc.Method(frag); !ok {
			return VerificationMethod{}, reject(ReasonUnresolvableDID, "%s has no key %s", truncate(k.did), truncate(methodID))
		}
	}
	if (k.purpose == purposeAuthentication && !m.Authentication) || (k.purpose == purposeAssertionMethod && !m.AssertionMethod) {
		return VerificationMethod{}, reject(k.mismatch, "key %s is not authorised for %s", truncate(methodID), k.purpose)
	}
	return m, nil
}

// ldCredentials returns the JSON-LD credentials of a presentation.
func ldCredentials(vp map[string]any) ([]map[string]any, error) {
	var list []any
	switch c := vp["verifiableCredential"].(type) {
	case nil:
		return nil, reject(ReasonMissingCredential, "presentation carries no credential")
	case map[string]any:
		list = []any{c}
	case []any:
		list = c
	case string:
		return nil, reject(ReasonUnsupportedFormat, "JWT credentials travel in VP-JWTs, not in JSON-LD presentations")
	default:
		return nil, reject(ReasonMalformed, "verifiableCredential is neither an object nor an array")
	}
	if len(list) == 0 {
		return nil, reject(ReasonMissingCredential, "presentation carries no credential")
	}
	out := make([]map[string]any, 0, len(list))
	for _, e := range list {
		switch vc := e.(type) {
		case map[string]any:
			out = append(out, vc)
		case string:
			return nil, reject(ReasonUnsupportedFormat, "JWT credentials travel in VP-JWTs, not in JSON-LD presentations")
		default:
			return nil, reject(ReasonMalformed, "a credential is not a JSON object")
		}
	}
	return out, nil
}
