package emulator_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// kinValidator validates exchanges with kin-openapi's
// openapi3filter.ValidateResponse against Twilio's descriptions.
type kinValidator struct {
	docs map[string]*openapi3.T // by file
}

func newKinValidator(t *testing.T) *kinValidator {
	t.Helper()
	k := &kinValidator{docs: map[string]*openapi3.T{}}
	for _, file := range specFiles {
		b, err := readSpec(file)
		if err != nil && file == specFiles["studio/v2"] {
			continue // see loadSpecs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		doc, err := openapi3.NewLoader().LoadFromData(b)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		k.docs[file] = doc
	}
	return k
}

func (k *kinValidator) validate(op operation, ex exchange) error {
	doc := k.docs[op.file]
	item := doc.Paths.Find(op.path)
	route := &routers.Route{
		Spec:      doc,
		Server:    doc.Servers[0],
		Path:      op.path,
		PathItem:  item,
		Method:    op.method,
		Operation: item.GetOperation(op.method),
	}
	// The request as it would have reached Twilio.
	req := ex.req.Clone(context.Background())
	req.URL.Path = strings.TrimPrefix(req.URL.Path, "/_twilio/"+op.label)
	req.Body = http.NoBody
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: op.pathArgs,
			Route:      route,
		},
		Status:  ex.status,
		Header:  ex.header,
		Body:    io.NopCloser(strings.NewReader(string(ex.body))),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	return openapi3filter.ValidateResponse(context.Background(), in)
}
