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
	"github.com/piprate/json-gold/ld"
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

// ldProof is one Data Integrity proof: what its options say, read from the statements it
// signs, and the signature itself.
type ldProof struct {
	// typ is the proof type as written: it says how the signature is checked, and it is what
	// the options sign (for a derived BBS+ proof, the type of the signature it derives from).
	typ string
	// raw is the proof as written, from which its options are made.
	raw       map[string]any
	purpose   string
	method    string
	challenge string
	domain    string
	// data is what the signature is made over: the canonical options and document, hashed as
	// the proof type says.
	data       []byte
	proofValue []byte
	jws        string
	nonce      []byte
}

// ldDocument is a JSON-LD document with Data Integrity proofs, as its proofs sign it.
type ldDocument struct {
	// node is what the signed statements say about the document's main node, under the
	// vocabulary's names (see signedGraph.read).
	node   map[string]any
	proofs []ldProof
}

// signedLD reads a JSON-LD document through what its proofs sign: it canonicalises the
// document without its proofs and each proof's options, and reads the one node of type
// nodeType and each proof's options from the resulting statements. It refuses, in this order
// and before any canonicalisation: contexts that are not embedded (and inline contexts unless
// inline is true), documents without a proof, and proof types not in supported.
func (v *Verifier) signedLD(doc map[string]any, what, nodeType string, supported []string, inline bool) (*ldDocument, error) {
	if err := v.checkContexts(doc, inline); err != nil {
		return nil, err
	}
	raws, err := ldProofs(doc, what, supported)
	if err != nil {
		return nil, err
	}
	unsigned := make(map[string]any, len(doc))
	for k, val := range doc {
		if k != "proof" {
			unsigned[k] = val
		}
	}
	docCanon, graph, err := v.canon.canonicalize(unsigned)
	if err != nil {
		return nil, ldError(what, err)
	}
	subject, err := oneOfType(graph, nodeType, v.vocab, what)
	if err != nil {
		return nil, err
	}
	out := &ldDocument{}
	if out.node, err = graph.read(subject, v.vocab); err != nil {
		return nil, reject(ReasonMalformed, "%s: %v", what, err)
	}
	for _, p := range raws {
		if err := v.readProof(doc, &p, docCanon, what); err != nil {
			return nil, err
		}
		out.proofs = append(out.proofs, p)
	}
	return out, nil
}

// oneOfType returns the one subject of the graph with type name typ.
func oneOfType(g *signedGraph, typ string, vocab *vocabulary, what string) (string, error) {
	var found []string
	for s, sts := range g.out {
		for _, st := range sts {
			if st.predicate == ld.RDFType && vocab.name(st.object.GetValue()) == typ {
				found = append(found, s)
				break
			}
		}
	}
	if len(found) != 1 {
		return "", reject(ReasonMalformed, "%s states %d nodes of type %s, not one", what, len(found), typ)
	}
	return found[0], nil
}

// ldError turns a canonicalisation failure into a refusal.
func ldError(what string, err error) error {
	var ce *contextError
	if errors.As(err, &ce) {
		return reject(ReasonUnknownContext, "%s: %v", what, err)
	}
	return reject(ReasonMalformed, "%s is not valid JSON-LD with known contexts: %v", what, err)
}

// checkContexts refuses a document, at any depth, whose @context is not a list of embedded
// contexts' URLs; inline context definitions are accepted when inline is true.
func (v *Verifier) checkContexts(doc any, inline bool) error {
	switch x := doc.(type) {
	case map[string]any:
		for k, val := range x {
			if k == "@context" {
				if err := v.checkContext(val, inline); err != nil {
					return err
				}
				continue
			}
			if err := v.checkContexts(val, inline); err != nil {
				return err
			}
		}
	case []any:
		for _, e := range x {
			if err := v.checkContexts(e, inline); err != nil {
				return err
			}
		}
	}
	return nil
}

func (v *Verifier) checkContext(c any, inline bool) error {
	switch x := c.(type) {
	case string:
		if v.known != nil && !v.known(x) {
			return reject(ReasonUnknownContext, "context %q is not one this service knows (contexts are never fetched)", truncate(x))
		}
		return nil
	case []any:
		for _, e := range x {
			if _, nested := e.([]any); nested {
				return reject(ReasonMalformed, "@context holds an array in an array")
			}
			if err := v.checkContext(e, inline); err != nil {
				return err
			}
		}
		return nil
	}
	if !inline {
		return reject(ReasonUnknownContext, "an inline @context is not accepted: use the URLs of published contexts")
	}
	return nil
}

// readProof canonicalises the options of proof p of doc, reads what they say from the
// statements, and computes the data its signature is over. docCanon is doc's canonical form
// without its proofs.
func (v *Verifier) readProof(doc map[string]any, p *ldProof, docCanon, what string) error {
	opts := make(map[string]any, len(p.raw)+1)
	for k, val := range p.raw {
		opts[k] = val
	}
	signedType := p.typ
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
			// A derived proof is checked against the options of the signature it derives from.
			signedType = ProofBbsBlsSignature2020
			opts["type"] = signedType
		}
	}
	optsCanon, graph, err := v.canon.canonicalize(opts)
	if err != nil {
		return ldError(what+" proof options", err)
	}
	subject, err := oneOfType(graph, signedType, v.vocab, what+" proof options")
	if err != nil {
		return err
	}
	o, err := graph.read(subject, v.vocab)
	if err != nil {
		return reject(ReasonMalformed, "%s proof: %v", what, err)
	}
	if t := types(o); len(t) != 1 {
		return reject(ReasonMalformed, "%s proof has %d types", what, len(t))
	}
	purpose, _ := o["proofPurpose"].(string)
	p.purpose = v.vocab.name(purpose)
	p.method = idOf(o["verificationMethod"])
	p.challenge, err = oneString(o, "challenge", what)
	if err != nil {
		return err
	}
	if p.domain, err = oneString(o, "domain", what); err != nil {
		return err
	}
	if p.method == "" {
		return reject(ReasonMalformed, "%s proof has no verificationMethod", what)
	}
	if created, _ := o["created"].(string); created == "" {
		return reject(ReasonMalformed, "%s proof has no valid created date", what)
	} else if _, err := time.Parse(time.RFC3339Nano, created); err != nil {
		return reject(ReasonMalformed, "%s proof has no valid created date", what)
	}
	switch {
	case p.typ == ProofBbsBlsSignatureProof2020 || p.typ == ProofBbsBlsSignature2020:
		p.data = []byte(optsCanon + docCanon)
	case jws:
		header, _, ok := strings.Cut(p.jws, ".")
		if !ok {
			return reject(ReasonMalformed, "proof jws is not a detached JWS")
		}
		h1, h2 := sha256.Sum256([]byte(optsCanon)), sha256.Sum256([]byte(docCanon))
		p.data = append(append([]byte(header+"."), h1[:]...), h2[:]...)
	default:
		h1, h2 := sha256.Sum256([]byte(optsCanon)), sha256.Sum256([]byte(docCanon))
		p.data = append(h1[:], h2[:]...)
	}
	return nil
}

// oneString returns member name of a node read from signed statements: "" when absent, a
// refusal when there are several.
func oneString(node map[string]any, name, what string) (string, error) {
	switch x := node[name].(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	}
	return "", reject(ReasonMalformed, "%s proof has several values of %s", what, name)
}

// idOf returns the id of a node read from signed statements: the IRI of a node without
// statements of its own, or the "id" of one with.
func idOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		id, _ := x["id"].(string)
		return id
	}
	return ""
}

// count returns how many values a member read from signed statements has.
func count(v any) int {
	switch x := v.(type) {
	case nil:
		return 0
	case []any:
		return len(x)
	}
	return 1
}

// parseLD runs the cheap checks of a JSON-LD presentation: nothing is resolved or fetched.
func (v *Verifier) parseLD(vp map[string]any, req Request) (*presented, error) {
	// The JSON may make the verifier refuse early, never accept: these cheap checks of it
	// are all confirmed on the signed statements below.
	if !slices.Contains(types(vp), "VerifiablePresentation") {
		return nil, reject(ReasonMalformed, "type does not include VerifiablePresentation")
	}
	inline := req.Policy.AllowInlineContexts
	if err := v.checkContexts(vp, inline); err != nil { // the credentials' too, before any work
		return nil, err
	}
	vcs, err := ldCredentials(vp)
	if err != nil {
		return nil, err
	}
	doc, err := v.signedLD(vp, "presentation", "VerifiablePresentation", SupportedProofTypes, inline)
	if err != nil {
		return nil, err
	}
	holder := idOf(doc.node["holder"])
	if holder == "" || count(doc.node["holder"]) != 1 {
		return nil, reject(ReasonHolderMismatch, "presentation names no holder")
	}
	for _, p := range doc.proofs {
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
	// The credentials are read from the JSON: each is verified by its own proof, over its
	// own statements. The presentation's proof signs them too, and must sign as many.
	if n := count(doc.node["verifiableCredential"]); n != len(vcs) {
		return nil, reject(ReasonMalformed, "the presentation's proof signs %d credentials, and %d are presented", n, len(vcs))
	}
	out := &presented{holder: holder}
	for _, vc := range vcs {
		c, err := v.parseLDCredential(vc, holder, req)
		if err != nil {
			return nil, err
		}
		out.creds = append(out.creds, c)
	}
	out.verifyHolder = func(ctx context.Context) error {
		return v.verifyLDProofs(ctx, doc.proofs, holder, purposeAuthentication, ReasonHolderMismatch)
	}
	return out, nil
}

// verifyLDProofs checks each proof with signer's key for purpose.
func (v *Verifier) verifyLDProofs(ctx context.Context, proofs []ldProof, signer, purpose string, mismatch Reason) error {
	keys := proofKeys{ctx: ctx, resolver: v.resolver, did: signer, purpose: purpose, mismatch: mismatch}
	for _, p := range proofs {
		m, err := keys.resolve(p.method)
		if err != nil {
			return err
		}
		if err := checkLDSignature(p, m, p.data); err != nil {
			return reject(ReasonBadSignature, "%s by %s does not verify", p.typ, truncate(p.method))
		}
	}
	return nil
}

// parseLDCredential runs the checks of one JSON-LD credential that need no network: every
// fact is read from the statements its proof signs.
func (v *Verifier) parseLDCredential(vc map[string]any, holder string, req Request) (*presentedCredential, error) {
	doc, err := v.signedLD(vc, "credential", "VerifiableCredential",
		append(slices.Clone(SupportedProofTypes), SupportedBBSProofTypes...), req.Policy.AllowInlineContexts)
	if err != nil {
		return nil, err
	}
	s := doc.node
	c := &presentedCredential{format: FormatLDP, types: types(s), id: idOf(s["id"])}
	c.issuer = idOf(s["issuer"])
	if c.issuer == "" || count(s["issuer"]) != 1 {
		return nil, reject(ReasonMalformed, "credential has no single issuer")
	}
	for _, p := range doc.proofs {
		if p.purpose != purposeAssertionMethod {
			return nil, reject(ReasonMalformed, "credential proof purpose is %q, want %q", truncate(p.purpose), purposeAssertionMethod)
		}
		if didOf(p.method) != c.issuer {
			return nil, reject(ReasonIssuerMismatch, "credential is signed by %s, not by its issuer", truncate(p.method))
		}
		if slices.Contains(SupportedBBSProofTypes, p.typ) {
			c.format = FormatBBS
		}
		if c.proofType == "" {
			c.proofType = p.typ
		}
	}
	if err := ldDates(c, s, firstContext(vc) != CredentialsV2Context); err != nil {
		return nil, err
	}
	if err := v.checkValidity(c, req.Policy); err != nil {
		return nil, err
	}

	var subject map[string]any
	switch x := s["credentialSubject"].(type) {
	case map[string]any:
		subject = x
	case string: // a subject the credential says nothing about but its id
		subject = map[string]any{"id": x}
	}
	if subject == nil {
		return nil, reject(ReasonMalformed, "credential has no single credentialSubject")
	}
	subjectID := idOf(subject)
	if !subjectBound(subjectID, holder, req) {
		return nil, reject(ReasonHolderMismatch, "credential subject is not the presentation's holder")
	}
	c.claims = make(map[string]any, len(subject))
	for k, val := range subject {
		if k != "id" && k != "type" {
			c.claims[k] = val
		}
	}
	if c.status, err = statusEntries(s["credentialStatus"]); err != nil {
		return nil, err
	}
	c.verify = func(ctx context.Context) error {
		return v.verifyLDProofs(ctx, doc.proofs, c.issuer, purposeAssertionMethod, ReasonIssuerMismatch)
	}
	return c, nil
}

// ldDates reads a credential's dates from its signed statements, whichever data model's
// terms state them: the latest start (issuanceDate, validFrom) and the earliest end
// (expirationDate, validUntil) bound its validity. needIssuance (VC Data Model 1.1) refuses a
// credential that states neither issuanceDate nor validFrom.
func ldDates(c *presentedCredential, s map[string]any, needIssuance bool) error {
	var dates [4]time.Time
	for i, name := range []string{"issuanceDate", "validFrom", "expirationDate", "validUntil"} {
		t, err := timeField(s, name)
		if err != nil {
			return err
		}
		dates[i] = t
	}
	issuance, validFrom, expiration, validUntil := dates[0], dates[1], dates[2], dates[3]
	c.issuedAt = issuance
	if c.issuedAt.IsZero() {
		c.issuedAt = validFrom
	}
	if needIssuance && c.issuedAt.IsZero() {
		return reject(ReasonMalformed, "credential has no issuanceDate")
	}
	c.validFrom = issuance
	if validFrom.After(c.validFrom) {
		c.validFrom = validFrom
	}
	c.validUntil = expiration
	if !validUntil.IsZero() && (c.validUntil.IsZero() || validUntil.Before(c.validUntil)) {
		c.validUntil = validUntil
	}
	return nil
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

// ldProofs returns a document's proofs as written, with their signatures decoded, refusing
// documents without one and proof types not in supported. What the proofs say is read later,
// from what they sign (readProof).
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
		p := ldProof{}
		p.typ, _ = m["type"].(string)
		p.raw = m
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
