package identity

import (
	"embed"
	"encoding/json"
	"fmt"

	ldcontext "github.com/hyperledger/aries-framework-go/component/models/ld/context"
	afgcontexts "github.com/hyperledger/aries-framework-go/component/models/ld/context/embed"
	"github.com/piprate/json-gold/ld"
)

// VerifiedCustomerContext is the JSON-LD context of the VerifiedCustomer credential and its
// claims. It is served from the binary, never fetched.
const VerifiedCustomerContext = "https://hearro.dev/contexts/verified-customer/v1"

//go:embed contexts/*.jsonld
var contextFiles embed.FS

// Contexts returns the JSON-LD contexts this service adds to aries-framework-go's embedded
// ones. They are what an agent (service or wallet) passes to ld.WithExtraContexts.
func Contexts() []ldcontext.Document {
	b, err := contextFiles.ReadFile("contexts/verified-customer-v1.jsonld")
	if err != nil {
		panic(err) // the file is embedded at build time
	}
	return []ldcontext.Document{{URL: VerifiedCustomerContext, DocumentURL: VerifiedCustomerContext, Content: b}}
}

// ContextLoader is a JSON-LD document loader that knows a fixed set of contexts (those
// aries-framework-go embeds and this service's own) and refuses every other URL: verification
// never reaches the network. Documents are parsed once; it is safe for concurrent use.
type ContextLoader struct {
	docs map[string]*ld.RemoteDocument
}

var _ ld.DocumentLoader = (*ContextLoader)(nil)

// NewContextLoader returns a loader for the embedded contexts plus extra.
func NewContextLoader(extra ...ldcontext.Document) (*ContextLoader, error) {
	all := append(append(append([]ldcontext.Document{}, afgcontexts.Contexts...), Contexts()...), extra...)
	l := &ContextLoader{docs: make(map[string]*ld.RemoteDocument, len(all))}
	for _, c := range all {
		var doc any
		if err := json.Unmarshal(c.Content, &doc); err != nil {
			return nil, fmt.Errorf("context %s: %w", c.URL, err)
		}
		l.docs[c.URL] = &ld.RemoteDocument{DocumentURL: c.DocumentURL, Document: doc}
	}
	return l, nil
}

// LoadDocument returns the embedded context at u, or an error if there is none.
func (l *ContextLoader) LoadDocument(u string) (*ld.RemoteDocument, error) {
	if d, ok := l.docs[u]; ok {
		return d, nil
	}
	return nil, ld.NewJsonLdError(ld.LoadingDocumentFailed, fmt.Sprintf("unknown JSON-LD context %q (contexts are never fetched)", u))
}
