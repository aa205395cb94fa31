package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// jwtParts is a decoded, not yet verified, compact JWS.
type jwtParts struct {
	raw     string
	alg     string
	typ     string
	kid     string
	payload map[string]any
}

// decodeJWT decodes a compact JWS's header and JSON payload, refusing algorithms the verifier
// does not check (including "none").
func decodeJWT(token, what string, maxDepth int) (*jwtParts, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, reject(ReasonMalformed, "%s is not a compact JWS", what)
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, reject(ReasonMalformed, "%s header is not base64url", what)
	}
	var h struct {
		Alg  string `json:"alg"`
		Typ  string `json:"typ"`
		Kid  string `json:"kid"`
		Crit []any  `json:"crit"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return nil, reject(ReasonMalformed, "%s header is not a JSON object", what)
	}
	if h.Alg != AlgEdDSA && h.Alg != AlgES256 {
		return nil, reject(ReasonUnsupportedFormat, "%s algorithm %q is not supported (EdDSA, ES256)", what, truncate(h.Alg))
	}
	if len(h.Crit) > 0 {
		return nil, reject(ReasonUnsupportedFormat, "%s has critical header parameters", what)
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, reject(ReasonMalformed, "%s payload is not base64url", what)
	}
	if err := checkDepth(pb, maxDepth); err != nil {
		return nil, err
	}
	p := &jwtParts{raw: token, alg: h.Alg, typ: h.Typ, kid: h.Kid}
	if err := json.Unmarshal(pb, &p.payload); err != nil || p.payload == nil {
		return nil, reject(ReasonMalformed, "%s payload is not a JSON object", what)
	}
	return p, nil
}

// numericDate reads a JWT NumericDate claim; zero if absent.
func numericDate(claims map[string]any, name string) (time.Time, error) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		return time.Time{}, nil
	}
	n, ok := raw.(float64)
	if !ok || n < 0 || n > 1e11 {
		return time.Time{}, reject(ReasonMalformed, "JWT %s is not a NumericDate", name)
	}
	sec := int64(n)
	return time.Unix(sec, int64((n-float64(sec))*1e9)).UTC(), nil
}

// audience reports whether the JWT aud claim (a string or an array) contains want.
func audience(claims map[string]any, want string) bool {
	switch a := claims["aud"].(type) {
	case string:
		return a == want
	case []any:
		return slices.ContainsFunc(a, func(e any) bool { s, _ := e.(string); return s == want })
	}
	return false
}

// parseJWTVP runs the cheap checks of a VP-JWT: VC Data Model 1.1 JWT encoding (a "vp" claim)
// or a VC Data Model 2.0 presentation secured with JOSE (the payload is the presentation).
func (v *Verifier) parseJWTVP(token string, req Request) (*presented, error) {
	vpJWT, err := decodeJWT(token, "presentation", v.maxDepth)
	if err != nil {
		return nil, err
	}
	vp, ok := vpJWT.payload["vp"].(map[string]any)
	if !ok {
		if _, has := vpJWT.payload["vp"]; has || !slices.Contains(types(vpJWT.payload), "VerifiablePresentation") {
			return nil, reject(ReasonUnsupportedFormat, "the JWT is not a verifiable presentation (no vp claim)")
		}
		vp = vpJWT.payload // VC Data Model 2.0: the payload is the presentation
	}
	if !slices.Contains(types(vp), "VerifiablePresentation") {
		return nil, reject(ReasonMalformed, "type does not include VerifiablePresentation")
	}
	holder, _ := vpJWT.payload["iss"].(string)
	vpHolder, _ := vp["holder"].(string)
	switch {
	case holder == "":
		holder = vpHolder
	case vpHolder != "" && vpHolder != holder:
		return nil, reject(ReasonHolderMismatch, "presentation iss and holder differ")
	}
	if holder == "" {
		return nil, reject(ReasonHolderMismatch, "presentation names no holder")
	}
	if nonce, _ := vpJWT.payload["nonce"].(string); nonce != req.Challenge {
		return nil, reject(ReasonChallengeMismatch, "presentation nonce is not this session's challenge")
	}
	if !audience(vpJWT.payload, req.Domain) {
		return nil, reject(ReasonDomainMismatch, "presentation audience is not %q", req.Domain)
	}
	if err := v.jwtTimes(vpJWT.payload, req.Policy, "presentation"); err != nil {
		return nil, err
	}
	if vpJWT.kid != "" && !strings.HasPrefix(vpJWT.kid, "#") && didOf(vpJWT.kid) != holder {
		return nil, reject(ReasonHolderMismatch, "presentation is signed by %s, not by its holder", truncate(vpJWT.kid))
	}
	var list []any
	switch c := vp["verifiableCredential"].(type) {
	case nil:
		return nil, reject(ReasonMissingCredential, "presentation carries no credential")
	case string:
		list = []any{c}
	case []any:
		list = c
	case map[string]any:
		list = []any{c}
	default:
		return nil, reject(ReasonMalformed, "verifiableCredential is neither a string nor an array")
	}
	if len(list) == 0 {
		return nil, reject(ReasonMissingCredential, "presentation carries no credential")
	}
	out := &presented{holder: holder}
	for _, e := range list {
		s, isString := e.(string)
		if !isString {
			return nil, reject(ReasonUnsupportedFormat, "a VP-JWT carries VC-JWTs; JSON-LD credentials travel in JSON-LD presentations")
		}
		vcJWT, err := decodeJWT(s, "credential", v.maxDepth)
		if err != nil {
			return nil, err
		}
		c, subjectID, err := jwtCredential(vcJWT)
		if err != nil {
			return nil, err
		}
		if err := v.checkValidity(c, req.Policy); err != nil {
			return nil, err
		}
		if !subjectBound(subjectID, holder, req) {
			return nil, reject(ReasonHolderMismatch, "credential subject is not the presentation's holder")
		}
		c.verify = func(ctx context.Context) error {
			return v.verifyJWS(ctx, vcJWT, c.issuer, purposeAssertionMethod, ReasonIssuerMismatch)
		}
		out.creds = append(out.creds, c)
	}
	out.verifyHolder = func(ctx context.Context) error {
		return v.verifyJWS(ctx, vpJWT, holder, purposeAuthentication, ReasonHolderMismatch)
	}
	return out, nil
}

// jwtTimes checks a JWT's nbf and exp with the policy's clock skew.
func (v *Verifier) jwtTimes(claims map[string]any, p *Policy, what string) error {
	nbf, err := numericDate(claims, "nbf")
	if err != nil {
		return err
	}
	exp, err := numericDate(claims, "exp")
	if err != nil {
		return err
	}
	iat, err := numericDate(claims, "iat")
	if err != nil {
		return err
	}
	now, skew := v.now(), v.skew(p)
	if !iat.IsZero() && iat.After(now.Add(skew)) {
		return reject(ReasonNotYetValid, "%s is issued in the future (%s)", what, iat.Format(time.RFC3339))
	}
	if !nbf.IsZero() && nbf.After(now.Add(skew)) {
		return reject(ReasonNotYetValid, "%s is valid from %s", what, nbf.Format(time.RFC3339))
	}
	if !exp.IsZero() && !exp.After(now.Add(-skew)) {
		return reject(ReasonExpiredCredential, "%s expired at %s", what, exp.Format(time.RFC3339))
	}
	return nil
}

// jwtCredential reads a VC-JWT (VC Data Model 1.1 "vc" claim, or a 2.0 credential as the
// payload) into a presented credential and its subject id.
func jwtCredential(p *jwtParts) (*presentedCredential, string, error) {
	vc, ok := p.payload["vc"].(map[string]any)
	v2 := false
	if !ok {
		if _, has := p.payload["vc"]; has || !slices.Contains(types(p.payload), "VerifiableCredential") {
			return nil, "", reject(ReasonUnsupportedFormat, "the JWT is not a verifiable credential (no vc claim)")
		}
		vc, v2 = p.payload, true
	}
	c := &presentedCredential{format: FormatJWT, types: types(vc), proofType: "JWT/" + p.alg}
	if !slices.Contains(c.types, "VerifiableCredential") {
		return nil, "", reject(ReasonMalformed, "credential type does not include VerifiableCredential")
	}
	iss, _ := p.payload["iss"].(string)
	var vcIssuer string
	switch i := vc["issuer"].(type) {
	case string:
		vcIssuer = i
	case map[string]any:
		vcIssuer, _ = i["id"].(string)
	}
	switch {
	case iss == "":
		iss = vcIssuer
	case vcIssuer != "" && vcIssuer != iss:
		return nil, "", reject(ReasonIssuerMismatch, "credential iss and issuer differ")
	}
	if iss == "" {
		return nil, "", reject(ReasonMalformed, "credential has no issuer")
	}
	c.issuer = iss
	if p.kid != "" && !strings.HasPrefix(p.kid, "#") && didOf(p.kid) != iss {
		return nil, "", reject(ReasonIssuerMismatch, "credential is signed by %s, not by its issuer", truncate(p.kid))
	}
	c.id, _ = p.payload["jti"].(string)
	if c.id == "" {
		c.id, _ = vc["id"].(string)
	}
	// The JWT's own nbf, exp and iat bind the credential in either data model (for 1.1 they
	// are its validity period; for 2.0 they secure the document); the document's dates bind it
	// too: the latest start and the earliest end count.
	nbf, err := numericDate(p.payload, "nbf")
	if err != nil {
		return nil, "", err
	}
	exp, err := numericDate(p.payload, "exp")
	if err != nil {
		return nil, "", err
	}
	iat, err := numericDate(p.payload, "iat")
	if err != nil {
		return nil, "", err
	}
	var docFrom, docUntil time.Time
	if v2 {
		if docFrom, err = timeField(vc, "validFrom"); err != nil {
			return nil, "", err
		}
		if docUntil, err = timeField(vc, "validUntil"); err != nil {
			return nil, "", err
		}
	} else {
		if docFrom, err = timeField(vc, "issuanceDate", "validFrom"); err != nil {
			return nil, "", err
		}
		if docUntil, err = timeField(vc, "expirationDate", "validUntil"); err != nil {
			return nil, "", err
		}
	}
	c.validFrom = latest(nbf, docFrom, iat)
	c.validUntil = earliest(exp, docUntil)
	c.issuedAt = iat
	if c.issuedAt.IsZero() {
		c.issuedAt = latest(nbf, docFrom)
	}
	subject, ok := vc["credentialSubject"].(map[string]any)
	if !ok {
		if list, isList := vc["credentialSubject"].([]any); isList && len(list) == 1 {
			subject, ok = list[0].(map[string]any)
		}
	}
	if !ok {
		return nil, "", reject(ReasonMalformed, "credential has no single credentialSubject object")
	}
	subjectID, _ := subject["id"].(string)
	if sub, _ := p.payload["sub"].(string); sub != "" {
		if subjectID != "" && subjectID != sub {
			return nil, "", reject(ReasonHolderMismatch, "credential sub and subject id differ")
		}
		subjectID = sub
	}
	c.claims = make(map[string]any, len(subject))
	for k, val := range subject {
		if k != "id" && k != "type" {
			c.claims[k] = val
		}
	}
	if c.status, err = statusEntries(vc["credentialStatus"]); err != nil {
		return nil, "", err
	}
	return c, subjectID, nil
}

// latest returns the latest of ts that is not zero (zero if all are).
func latest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if t.After(out) {
			out = t
		}
	}
	return out
}

// earliest returns the earliest of ts that is not zero (zero if all are).
func earliest(ts ...time.Time) time.Time {
	var out time.Time
	for _, t := range ts {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}

// verifyJWS checks a JWS with jwx, with the key its kid names (or the signer's only key for
// purpose when it names none), which must belong to signer.
func (v *Verifier) verifyJWS(ctx context.Context, p *jwtParts, signer, purpose string, mismatch Reason) error {
	m, err := v.jwtKey(ctx, signer, p.kid, purpose, mismatch)
	if err != nil {
		return err
	}
	return checkJWS(p, m, "key "+truncate(m.ID), ReasonUnresolvableDID)
}

// checkJWS checks a JWS with jwx against key m (named name in errors): its algorithm must be
// the key's, and a key that does not decode is refused with badKey.
func checkJWS(p *jwtParts, m VerificationMethod, name string, badKey Reason) error {
	if p.alg != algFor(m.KeyCurve()) {
		return reject(ReasonBadSignature, "%s is not the algorithm of %s", p.alg, name)
	}
	var key any
	var alg jwa.SignatureAlgorithm
	switch m.KeyCurve() {
	case CurveEd25519:
		key, alg = ed25519.PublicKey(m.PublicKey), jwa.EdDSA
	case CurveP256:
		pub, err := ecdsaKey(m.PublicKey)
		if err != nil {
			return reject(badKey, "%s: %v", name, err)
		}
		key, alg = (*ecdsa.PublicKey)(pub), jwa.ES256
	default:
		return reject(ReasonBadSignature, "%s cannot sign JWTs", name)
	}
	if _, err := jws.Verify([]byte(p.raw), jws.WithKey(alg, key)); err != nil {
		return reject(ReasonBadSignature, "JWT signed by %s does not verify", name)
	}
	return nil
}

// jwtKey finds the key a JWT's kid names among signer's keys authorised for purpose.
func (v *Verifier) jwtKey(ctx context.Context, signer, kid, purpose string, mismatch Reason) (VerificationMethod, error) {
	keys := proofKeys{ctx: ctx, resolver: v.resolver, did: signer, purpose: purpose, mismatch: mismatch}
	switch {
	case strings.HasPrefix(kid, "#"):
		return keys.resolve(signer + kid)
	case kid != "":
		return keys.resolve(kid)
	}
	doc, err := v.resolver.Resolve(ctx, signer)
	if err != nil {
		return VerificationMethod{}, err
	}
	var found []VerificationMethod
	for _, m := range doc.Methods {
		if (purpose == purposeAuthentication && m.Authentication) || (purpose == purposeAssertionMethod && m.AssertionMethod) {
			if !slices.ContainsFunc(found, func(f VerificationMethod) bool { return string(f.PublicKey) == string(m.PublicKey) }) {
				found = append(found, m)
			}
		}
	}
	if len(found) != 1 {
		return VerificationMethod{}, reject(ReasonMalformed, "the JWT names no key (kid) and %s has %d keys for %s", truncate(signer), len(found), purpose)
	}
	return found[0], nil
}

// verifyStandaloneJWT verifies a VC-JWT that is not presented (a status list): its issuer's
// signature and its validity period. It returns the credential document (the vc claim).
func (v *Verifier) verifyStandaloneJWT(ctx context.Context, token string) (map[string]any, string, time.Time, error) {
	p, err := decodeJWT(token, "status list credential", v.maxDepth)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	c, _, err := jwtCredential(p)
	if err != nil {
		return nil, "", time.Time{}, err
	}
	if !c.validFrom.IsZero() && c.validFrom.After(v.now().Add(v.clockSkew)) {
		return nil, "", time.Time{}, reject(ReasonMalformed, "status list credential is not valid yet")
	}
	if err := v.verifyJWS(ctx, p, c.issuer, purposeAssertionMethod, ReasonIssuerMismatch); err != nil {
		return nil, "", time.Time{}, err
	}
	doc, ok := p.payload["vc"].(map[string]any)
	if !ok {
		doc = p.payload
	}
	return doc, c.issuer, c.validUntil, nil
}
