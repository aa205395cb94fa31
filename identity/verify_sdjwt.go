package identity

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/hearro/trustbroker/identity/sdjwt"
)

// SD-JWT header types.
const (
	TypeSDJWTVC = "vc+sd-jwt"
	TypeDCSDJWT = "dc+sd-jwt"
	TypeKBJWT   = "kb+jwt"
)

// sdJWTRegistered are the SD-JWT VC payload members that are not claims about the subject.
var sdJWTRegistered = map[string]bool{
	"iss": true, "sub": true, "iat": true, "nbf": true, "exp": true, "cnf": true, "vct": true,
	"vct#integrity": true, "status": true, "jti": true, "aud": true, "_sd_alg": true,
}

// sdJWTNotDisclosable are the SD-JWT VC claims that must be in the clear in the issuer-signed
// payload. A holder could withhold the disclosure of any of them — an expiry, a validity start,
// an issue date the policy's age limit reads, a status reference, the holder binding — so a
// credential that makes one disclosable is refused when it is presented with it. ("_sd",
// "..." and "_sd_alg" are refused as disclosures by sdjwt.Reveal itself.)
var sdJWTNotDisclosable = []string{"iss", "exp", "nbf", "iat", "cnf", "status", "vct", "vct#integrity"}

// parseSDJWT runs the cheap checks of an SD-JWT VC presentation with key binding.
func (v *Verifier) parseSDJWT(token string, req Request) (*presented, error) {
	sp, err := sdjwt.Split(token)
	if err != nil {
		return nil, reject(ReasonMalformed, "SD-JWT: %v", err)
	}
	iss, err := decodeJWT(sp.IssuerJWT, "SD-JWT", v.maxDepth)
	if err != nil {
		return nil, err
	}
	if iss.typ != TypeSDJWTVC && iss.typ != TypeDCSDJWT {
		return nil, reject(ReasonUnsupportedFormat, "SD-JWT typ %q is not %s or %s", truncate(iss.typ), TypeSDJWTVC, TypeDCSDJWT)
	}
	claims, err := sdjwt.Reveal(iss.payload, sp.Disclosures, sdJWTNotDisclosable...)
	if errors.Is(err, sdjwt.ErrNotDisclosable) {
		return nil, reject(ReasonDisclosureNotAllowed, "SD-JWT disclosures: %v", err)
	}
	if err != nil {
		return nil, reject(ReasonMalformed, "SD-JWT disclosures: %v", err)
	}
	c := &presentedCredential{format: FormatSDJWT, proofType: "SD-JWT/" + iss.alg}
	c.issuer, _ = claims["iss"].(string)
	if c.issuer == "" {
		return nil, reject(ReasonMalformed, "SD-JWT has no iss")
	}
	if _, _, err := splitDID(c.issuer); err != nil {
		return nil, reject(ReasonUnsupportedDIDMethod, "SD-JWT issuer %q is not a DID (only DID issuers are resolved)", truncate(c.issuer))
	}
	if iss.kid != "" && !strings.HasPrefix(iss.kid, "#") && didOf(iss.kid) != c.issuer {
		return nil, reject(ReasonIssuerMismatch, "SD-JWT is signed by %s, not by its issuer", truncate(iss.kid))
	}
	vct, _ := claims["vct"].(string)
	if vct == "" {
		return nil, reject(ReasonMalformed, "SD-JWT VC has no vct")
	}
	c.types = []string{vct}
	c.id, _ = claims["jti"].(string)
	if c.validFrom, err = numericDate(claims, "nbf"); err != nil {
		return nil, err
	}
	if c.validUntil, err = numericDate(claims, "exp"); err != nil {
		return nil, err
	}
	if c.issuedAt, err = numericDate(claims, "iat"); err != nil {
		return nil, err
	}
	c.validFrom = latest(c.validFrom, c.issuedAt) // issued in the future is not valid yet
	if err := v.checkValidity(c, req.Policy); err != nil {
		return nil, err
	}
	if st, ok := claims["status"]; ok && st != nil {
		// IETF Token Status List references are not consulted yet: refused unless the
		// policy does not check status.
		c.status = []statusEntry{{typ: "TokenStatusList"}}
	}
	c.claims = make(map[string]any, len(claims))
	for k, val := range claims {
		if !sdJWTRegistered[k] {
			c.claims[k] = val
		}
	}

	// Holder binding: the key in cnf signs the key binding JWT.
	cnf, _ := claims["cnf"].(map[string]any)
	if cnf == nil {
		return nil, reject(ReasonHolderMismatch, "SD-JWT has no cnf: it is not bound to a holder key")
	}
	sub, _ := claims["sub"].(string)
	if DIDMethod(sub) == "" {
		sub = ""
	}
	var holder, cnfKid string
	var cnfJWK []byte
	switch {
	case cnf["jwk"] != nil:
		cnfJWK, _ = json.Marshal(cnf["jwk"])
		if _, _, err := parseJWK(cnfJWK); err != nil {
			return nil, reject(ReasonMalformed, "SD-JWT cnf.jwk: %v", err)
		}
		holder = sub
		if holder == "" {
			canon, err := canonicalJWK(cnfJWK)
			if err != nil {
				return nil, reject(ReasonMalformed, "SD-JWT cnf.jwk: %v", err)
			}
			holder = "did:jwk:" + b64url(canon)
		}
	case cnf["kid"] != nil:
		cnfKid, _ = cnf["kid"].(string)
		if DIDMethod(didOf(cnfKid)) == "" || !strings.Contains(cnfKid, "#") {
			return nil, reject(ReasonMalformed, "SD-JWT cnf.kid is not a DID URL")
		}
		holder = didOf(cnfKid)
		if sub != "" && sub != holder {
			return nil, reject(ReasonHolderMismatch, "SD-JWT cnf key is not the subject's")
		}
	default:
		return nil, reject(ReasonHolderMismatch, "SD-JWT cnf has neither jwk nor kid")
	}

	if sp.KeyBinding == "" {
		return nil, reject(ReasonHolderMismatch, "SD-JWT has no key binding JWT")
	}
	kb, err := decodeJWT(sp.KeyBinding, "key binding JWT", v.maxDepth)
	if err != nil {
		return nil, err
	}
	if kb.typ != TypeKBJWT {
		return nil, reject(ReasonMalformed, "key binding JWT typ is %q, want %s", truncate(kb.typ), TypeKBJWT)
	}
	if nonce, _ := kb.payload["nonce"].(string); nonce != req.Challenge {
		return nil, reject(ReasonChallengeMismatch, "key binding nonce is not this session's challenge")
	}
	if !audience(kb.payload, req.Domain) {
		return nil, reject(ReasonDomainMismatch, "key binding audience is not %q", req.Domain)
	}
	kbIat, err := numericDate(kb.payload, "iat")
	if err != nil || kbIat.IsZero() {
		return nil, reject(ReasonMalformed, "key binding JWT has no iat")
	}
	if kbIat.After(v.now().Add(v.skew(req.Policy))) {
		return nil, reject(ReasonNotYetValid, "key binding JWT is issued in the future")
	}
	if h, _ := kb.payload["sd_hash"].(string); h != sdjwt.Digest(sp.Signed) {
		return nil, reject(ReasonBadSignature, "key binding sd_hash does not cover the presented SD-JWT")
	}

	c.verify = func(ctx context.Context) error {
		return v.verifyJWS(ctx, iss, c.issuer, purposeAssertionMethod, ReasonIssuerMismatch)
	}
	return &presented{holder: holder, creds: []*presentedCredential{c}, verifyHolder: func(ctx context.Context) error {
		if cnfKid != "" {
			return v.verifyJWS(ctx, kb, holder, purposeAuthentication, ReasonHolderMismatch)
		}
		curve, pub, _ := parseJWK(cnfJWK)
		if sub != "" {
			// The cnf key must be one of the subject DID's authentication keys.
			doc, err := v.resolver.Resolve(ctx, sub)
			if err != nil {
				return err
			}
			bound := false
			for _, m := range doc.Methods {
				if m.Authentication && m.KeyCurve() == curve && bytes.Equal(m.PublicKey, pub) {
					bound = true
					break
				}
			}
			if !bound {
				return reject(ReasonHolderMismatch, "SD-JWT cnf key is not an authentication key of its subject")
			}
		}
		return checkJWS(kb, VerificationMethod{ID: "cnf", Curve: curve, PublicKey: pub}, "the holder key", ReasonMalformed)
	}}, nil
}

// canonicalJWK returns the public members of a JWK in lexicographic order (RFC 7638's form).
func canonicalJWK(raw []byte) ([]byte, error) {
	var k jsonWebKey
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, err
	}
	if k.Kty == "EC" {
		return []byte(`{"crv":"` + k.Crv + `","kty":"EC","x":"` + k.X + `","y":"` + k.Y + `"}`), nil
	}
	return []byte(`{"crv":"` + k.Crv + `","kty":"` + k.Kty + `","x":"` + k.X + `"}`), nil
}
