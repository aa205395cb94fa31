package identity

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/piprate/json-gold/ld"
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
