package identity

import (
	"embed"
	"encoding/json"
	"fmt"
	"slices"

	ldcontext "github.com/hyperledger/aries-framework-go/component/models/ld/context"
	afgcontexts "github.com/hyperledger/aries-framework-go/component/models/ld/context/embed"
	"github.com/piprate/json-gold/ld"
)

// VerifiedCustomerContext is the JSON-LD context of the VerifiedCustomer credential and its
// claims. It is served from the binary, never fetched.
const VerifiedCustomerContext = "https://hearro.dev/contexts/verified-customer/v1"

// Contexts of the W3C specifications that aries-framework-go v0.3.0 does not embed.
const (
	// CredentialsV2Context is the VC Data Model 2.0 context (it also defines Bitstring Status
	// List terms).
	CredentialsV2Context = "https://www.w3.org/ns/credentials/v2"
	// DataIntegrityV2Context is the VC Data Integrity context.
	DataIntegrityV2Context = "https://w3id.org/security/data-integrity/v2"
	// CredentialsV1Context is the VC Data Model 1.1 context.
	CredentialsV1Context = "https://www.w3.org/2018/credentials/v1"
	// Ed25519Signature2020Context defines Ed25519Signature2020 proofs.
	Ed25519Signature2020Context = "https://w3id.org/security/suites/ed25519-2020/v1"
	// JWS2020Context defines JsonWebSignature2020 proofs and JsonWebKey2020 keys.
	JWS2020Context = "https://w3id.org/security/suites/jws-2020/v1"
	// BBSContext defines BbsBlsSignature2020 and BbsBlsSignatureProof2020 proofs.
	BBSContext = "https://w3id.org/security/bbs/v1"
	// StatusList2021Context defines StatusList2021 entries and lists.
	StatusList2021Context = "https://w3id.org/vc/status-list/2021/v1"
)

//go:embed contexts/*.jsonld
var contextFiles embed.FS

// Contexts returns the JSON-LD contexts this service adds to aries-framework-go's embedded
// ones. They are what an agent (service or wallet) passes to ld.WithExtraContexts.
func Contexts() []ldcontext.Document {
	var out []ldcontext.Document
	for _, c := range []struct{ file, url string }{
		{"verified-customer-v1.jsonld", VerifiedCustomerContext},
		{"credentials-v2.jsonld", CredentialsV2Context},
		{"data-integrity-v2.jsonld", DataIntegrityV2Context},
	} {
		b, err := contextFiles.ReadFile("contexts/" + c.file)
		if err != nil {
			panic(err) // the files are embedded at build time
		}
		out = append(out, ldcontext.Document{URL: c.url, DocumentURL: c.url, Content: b})
	}
	return out
}

// ContextLoader is a JSON-LD document loader that knows a fixed set of contexts (those
// aries-framework-go embeds and this service's own) and refuses every other URL: verification
// never reaches the network. Documents are parsed once; it is safe for concurrent use.
type ContextLoader struct {
	docs map[string]*ld.RemoteDocument
	// urls are the contexts' URLs: this service's own and the W3C ones first, then the rest,
	// in the order the vocabulary gives their terms precedence.
	urls []string
}

var _ ld.DocumentLoader = (*ContextLoader)(nil)

// NewContextLoader returns a loader for the embedded contexts plus extra.
func NewContextLoader(extra ...ldcontext.Document) (*ContextLoader, error) {
	all := append(append(append([]ldcontext.Document{}, Contexts()...), afgcontexts.Contexts...), extra...)
	l := &ContextLoader{docs: make(map[string]*ld.RemoteDocument, len(all))}
	for _, c := range all {
		if _, dup := l.docs[c.URL]; !dup {
			l.urls = append(l.urls, c.URL)
		}
		var doc any
		if err := json.Unmarshal(c.Content, &doc); err != nil {
			return nil, fmt.Errorf("context %s: %w", c.URL, err)
		}
		l.docs[c.URL] = &ld.RemoteDocument{DocumentURL: c.DocumentURL, Document: doc}
	}
	return l, nil
}

// Known reports whether u is the URL of a context the loader serves.
func (l *ContextLoader) Known(u string) bool {
	_, ok := l.docs[u]
	return ok
}

// URLs returns the URLs of the contexts the loader serves, in the order of NewContextLoader:
// this service's own, then aries-framework-go's, then the extra ones.
func (l *ContextLoader) URLs() []string { return slices.Clone(l.urls) }

// defaultContextURLs are the URLs of NewContextLoader's contexts.
var defaultContextURLs = func() []string {
	l, err := NewContextLoader()
	if err != nil {
		panic(err) // the contexts are embedded at build time
	}
	return l.URLs()
}()

// LoadDocument returns the embedded context at u, or an error if there is none.
func (l *ContextLoader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	if d, ok := l.docs[u]; ok {
		return d, nil
	}
	return nil, ld.NewJsonLdError(ld.LoadingDocumentFailed, fmt.Sprintf("unknown JSON-LD context %q (contexts are never fetched)", u))
}
