package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/hearro/trustbroker/api"
)

// TestMain routes every HTTP exchange of these tests through a transport that validates the
// service's responses against api/openapi.yaml: whatever a test does, the document stays true.
func TestMain(m *testing.M) {
	v, err := newOpenAPIValidator()
	if err != nil {
		fmt.Fprintln(os.Stderr, "openapi.yaml:", err)
		os.Exit(1)
	}
	v.next = http.DefaultTransport
	http.DefaultTransport = v
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	if problems := v.problems(); len(problems) > 0 {
		fmt.Fprintf(os.Stderr, "responses that do not match openapi.yaml (%d):\n  %s\n", len(problems), strings.Join(problems, "\n  "))
		code = 1
	}
	fmt.Fprintf(os.Stderr, "openapi: %d responses validated against openapi.yaml\n", v.count())
	os.Exit(code)
}

type openAPIValidator struct {
	next   http.RoundTripper
	router routers.Router

	mu        sync.Mutex
	validated int
	failures  []string
}

func newOpenAPIValidator() (*openAPIValidator, error) {
	for _, ct := range []string{"image/png", "image/svg+xml", "application/yaml", "text/html", "text/css", "text/javascript"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI)
	if err != nil {
		return nil, err
	}
	doc.Servers = nil // match any host: tests listen on random loopback ports
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &openAPIValidator{router: router}, nil
}

func (v *openAPIValidator) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := v.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	route, params, ferr := v.router.FindRoute(req)
	if ferr != nil || resp.Header.Get("Content-Type") == "text/event-stream" {
		return resp, nil // not our API (wallet endpoints, the Twilio emulator) or a stream
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(body)), Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	verr := openapi3filter.ValidateResponse(context.Background(), out)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.validated++
	if verr != nil {
		v.failures = append(v.failures, fmt.Sprintf("%s %s → %d: %v", req.Method, req.URL.Path, resp.StatusCode, verr))
	}
	return resp, nil
}

func (v *openAPIValidator) problems() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.failures...)
}

func (v *openAPIValidator) count() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.validated
}

var _ testing.TB = (*testing.T)(nil)
