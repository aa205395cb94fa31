package api_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/hearro/trustbroker/api"
)

// The OpenAPI document and the server agree route for route: everything the server serves is
// documented and everything documented is served. (Responses are validated against the
// document by every test in cmd/hearro, which run the real service.)
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPI)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid OpenAPI: %v", err)
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	key, _ := api.NewSigningKey(make([]byte, 32))
	e := api.New(api.Config{
		PublicURL:    "http://localhost:8080",
		DIDComm:      refuseAll{},
		Twilio:       http.NotFoundHandler(),
		AccessTokens: api.NewAccessTokens(key, "http://localhost:8080", "", nil),
	}, nil)
	param := regexp.MustCompile(`:([a-z_]+)`)
	served := map[string]bool{}
	for _, r := range e.Routes() {
		path := param.ReplaceAllString(r.Path, "{$1}")
		if strings.HasPrefix(path, "/_twilio/") || r.Method == "echo_route_any" {
			continue // the development Twilio emulator: Twilio's API, not ours
		}
		served[r.Method+" "+path] = true
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("%s is served but not in openapi.yaml", k)
		}
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("%s is in openapi.yaml but not served", k)
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes found: %v", len(served), slices.Collect(mapKeys(served)))
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
