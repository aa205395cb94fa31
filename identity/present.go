package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/hyperledger/aries-framework-go/component/models/ld/processor"
	sigapi "github.com/hyperledger/aries-framework-go/component/models/signature/api"
	bbsproof "github.com/hyperledger/aries-framework-go/component/models/signature/suite/bbsblssignatureproof2020"
	"github.com/piprate/json-gold/ld"

	"github.com/hearro/trustbroker/identity/sdjwt"
)

// PresentationSubmissionContext is the DIF Presentation Exchange submission context.
const PresentationSubmissionContext = "https://identity.foundation/presentation-exchange/submission/v1"

// Presentation describes a presentation a holder builds in answer to a request.
type Presentation struct {
	// Holder is the holder's DID; VerificationMethod its signing key (did#fragment).
	Holder             string
	VerificationMethod string
	// Credentials are the JSON-LD credentials to present.
	Credentials []json.RawMessage
	// DefinitionID, if set, adds a DIF presentation_submission for that definition, mapping
	// every credential to InputDescriptorID.
	DefinitionID string
	Challenge    string
	Domain       string
	// ProofType defaults to Ed25519Signature2020.
	ProofType string
}

// Present builds and signs a verifiable presentation (what a wallet does).
func Present(p Presentation, s Signer, loader ld.DocumentLoader) ([]byte, error) {
	if p.Holder == "" || p.VerificationMethod == "" {
		return nil, errors.New("present: holder and verification method are required")
	}
	contexts := []string{"https://www.w3.org/2018/credentials/v1"}
	if p.ProofType != "Ed25519Signature2018" { // the credentials context defines the 2018 suite
		contexts = append(contexts, "https://w3id.org/security/suites/ed25519-2020/v1")
	}
	vp := map[string]any{
		"@context":             contexts,
		"type":                 []string{"VerifiablePresentation"},
		"holder":               p.Holder,
		"verifiableCredential": p.Credentials,
	}
	if p.DefinitionID != "" {
		descriptors := make([]any, len(p.Credentials))
		for i := range p.Credentials {
			descriptors[i] = map[string]any{
				"id":     InputDescriptorID,
				"format": "ldp_vc",
				"path":   fmt.Sprintf("$.verifiableCredential[%d]", i),
			}
		}
		vp["@context"] = append(vp["@context"].([]string), PresentationSubmissionContext)
		vp["type"] = []string{"VerifiablePresentation", "PresentationSubmission"}
		vp["presentation_submission"] = map[string]any{
			"id":             uuid.NewString(),
			"definition_id":  p.DefinitionID,
			"descriptor_map": descriptors,
		}
	}
	doc, err := json.Marshal(vp)
	if err != nil {
		return nil, err
	}
	return SignLD(doc, s, LDProof{
		Type:               p.ProofType,
		VerificationMethod: p.VerificationMethod,
		Purpose:            purposeAuthentication,
		Challenge:          p.Challenge,
		Domain:             p.Domain,
	}, loader)
}

// JWTPresentation describes a VP-JWT a holder builds (VC Data Model 1.1 JWT encoding).
type JWTPresentation struct {
	// Holder is the holder's DID (iss); KeyID the signing key (did#fragment, the kid).
	Holder string
	KeyID  string
	// Credentials are VC-JWTs.
	Credentials []string
	// DefinitionID, if set, adds a DIF presentation_submission to the vp claim, mapping every
	// credential to InputDescriptorID with path_nested.
	DefinitionID string
	// Challenge becomes the nonce claim, Domain the aud claim.
	Challenge string
	Domain    string
	// Now is the issue time; default time.Now. The VP-JWT expires 10 minutes later.
	Now time.Time
}

// PresentJWT builds and signs a VP-JWT (what a JWT wallet does).
func PresentJWT(p JWTPresentation, s Signer) (string, error) {
	if p.Holder == "" || p.KeyID == "" {
		return "", errors.New("present: holder and key id are required")
	}
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	creds := make([]any, len(p.Credentials))
	for i, c := range p.Credentials {
		creds[i] = c
	}
	vp := map[string]any{
		"@context":             []string{"https://www.w3.org/2018/credentials/v1"},
		"type":                 []string{"VerifiablePresentation"},
		"verifiableCredential": creds,
	}
	if p.DefinitionID != "" {
		descriptors := make([]any, len(p.Credentials))
		for i := range p.Credentials {
			descriptors[i] = map[string]any{
				"id": InputDescriptorID, "format": FormatNameJWTVP, "path": "$",
				"path_nested": map[string]any{"id": InputDescriptorID, "format": "jwt_vc", "path": fmt.Sprintf("$.vp.verifiableCredential[%d]", i)},
			}
		}
		vp["presentation_submission"] = map[string]any{
			"id": uuid.NewString(), "definition_id": p.DefinitionID, "descriptor_map": descriptors,
		}
	}
	claims := map[string]any{
		"iss": p.Holder, "aud": p.Domain, "nonce": p.Challenge, "jti": "urn:uuid:" + uuid.NewString(),
		"iat": p.Now.Unix(), "nbf": p.Now.Unix(), "exp": p.Now.Add(10 * time.Minute).Unix(), "vp": vp,
	}
	return SignJWT(map[string]any{"typ": "JWT", "kid": p.KeyID}, claims, s)
}

// SDJWTPresentation describes an SD-JWT presentation with key binding.
type SDJWTPresentation struct {
	// SDJWT is the SD-JWT as issued: issuer JWT and every disclosure.
	SDJWT string
	// Reveal names the claims to disclose; the others stay hidden.
	Reveal []string
	// Challenge becomes the key binding JWT's nonce, Domain its aud.
	Challenge string
	Domain    string
	// Now is the key binding time; default time.Now.
	Now time.Time
}

// PresentSDJWT discloses the chosen claims of an SD-JWT and appends a key binding JWT signed
// by the holder key (the one the issuer put in cnf).
func PresentSDJWT(p SDJWTPresentation, holderKey Signer) (string, error) {
	sp, err := sdjwt.Split(p.SDJWT)
	if err != nil {
		return "", fmt.Errorf("present: %w", err)
	}
	var keep []string
	for _, d := range sp.Disclosures {
		raw, err := base64.RawURLEncoding.DecodeString(d)
		if err != nil {
			return "", fmt.Errorf("present: disclosure: %w", err)
		}
		var arr []any
		if err := json.Unmarshal(raw, &arr); err != nil || len(arr) != 3 {
			continue
		}
		if name, _ := arr[1].(string); slices.Contains(p.Reveal, name) {
			keep = append(keep, d)
		}
	}
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	signed := sdjwt.Join(sp.IssuerJWT, keep)
	kb, err := SignJWT(map[string]any{"typ": TypeKBJWT}, map[string]any{
		"iat": p.Now.Unix(), "aud": p.Domain, "nonce": p.Challenge, "sd_hash": sdjwt.Digest(signed),
	}, holderKey)
	if err != nil {
		return "", err
	}
	return signed + kb, nil
}

// DeriveBBS derives a BbsBlsSignatureProof2020 credential from a credential signed with
// BbsBlsSignature2020, revealing only the named subject claims (and the subject id, issuer,
// dates and status the verifier needs). resolver finds the issuer's BLS12-381 G2 key.
func DeriveBBS(ctx context.Context, vc []byte, reveal []string, nonce []byte, resolver Resolver, loader ld.DocumentLoader) ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(vc, &doc); err != nil {
		return nil, fmt.Errorf("derive: %w", err)
	}
	subject := map[string]any{"@explicit": true, "id": map[string]any{}}
	for _, c := range reveal {
		subject[c] = map[string]any{}
	}
	frame := map[string]any{
		"@context":          doc["@context"],
		"type":              doc["type"],
		"@explicit":         true,
		"issuer":            map[string]any{},
		"credentialSubject": subject,
	}
	for _, k := range []string{"issuanceDate", "expirationDate", "validFrom", "validUntil", "credentialStatus"} {
		if _, ok := doc[k]; ok {
			frame[k] = map[string]any{}
		}
	}
	derived, err := bbsproof.New().SelectiveDisclosure(doc, frame, nonce, bbsKeys{ctx: ctx, resolver: resolver},
		processor.WithDocumentLoader(loader))
	if err != nil {
		return nil, fmt.Errorf("derive: %w", err)
	}
	if list, ok := derived["proof"].([]map[string]any); ok && len(list) == 1 {
		derived["proof"] = list[0]
	}
	return json.Marshal(derived)
}

type bbsKeys struct {
	ctx      context.Context
	resolver Resolver
}

func (k bbsKeys) Resolve(id string) (*sigapi.PublicKey, error) {
	doc, err := k.resolver.Resolve(k.ctx, didOf(id))
	if err != nil {
		return nil, err
	}
	m, ok := doc.Method(id)
	if !ok || m.KeyCurve() != CurveBLS12381G2 {
		return nil, fmt.Errorf("no BLS12-381 G2 key %s", id)
	}
	return &sigapi.PublicKey{Type: "Bls12381G2Key2020", Value: m.PublicKey}, nil
}
