package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/piprate/json-gold/ld"
)

// canonicalizer turns JSON-LD documents into URDNA2015 canonical N-Quads, the data Data
// Integrity proofs sign. It is json-gold's Normalize taken apart so that:
//
//   - the top-level @context of a document is processed once and cached (contexts are
//     embedded and never change; processing them dominated the cost of verification);
//   - expansion and RDF conversion are checked to have dropped nothing: a term no context
//     defines, a relative IRI, an invalid IRI or language tag would otherwise be silently left
//     out of the signed data, and could be changed at will. This is the "every term is
//     defined" guarantee, obtained from the work canonicalisation does anyway instead of a
//     separate compaction pass.
//
// It is safe for concurrent use.
type canonicalizer struct {
	opts *ld.JsonLdOptions

	mu       sync.RWMutex
	contexts map[string]*ld.Context
}

// maxCachedContexts bounds the processed-context cache: a few wallets' context lists, not
// one entry per attacker-chosen inline context.
const (
	maxCachedContexts   = 64
	maxCachedContextKey = 2048
)

func newCanonicalizer(loader ld.DocumentLoader) *canonicalizer {
	opts := ld.NewJsonLdOptions("")
	opts.ProcessingMode = ld.JsonLd_1_1
	opts.DocumentLoader = loader
	opts.Algorithm = "URDNA2015"
	opts.Format = "application/n-quads"
	return &canonicalizer{opts: opts, contexts: map[string]*ld.Context{}}
}

// errDropped says some of a document would not be signed.
var errDropped = errors.New("part of the document is not defined by its contexts and would not be signed")

// canonicalize returns doc's canonical N-Quads and the default graph of the statements they
// are made of: what a proof over doc signs, and the only place facts about doc are read from
// (see signedGraph). doc is not modified. Any failure (including a panic inside json-gold on
// hostile input) is an error; a context json-gold cannot load or a protected term redefined
// is a *contextError.
func (c *canonicalizer) canonicalize(doc map[string]any) (out string, graph *signedGraph, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, graph, err = "", nil, fmt.Errorf("JSON-LD processing failed: %v", r)
		}
		var le *ld.JsonLdError
		if errors.As(err, &le) {
			switch le.Code {
			case ld.LoadingDocumentFailed, ld.LoadingRemoteContextFailed, ld.ProtectedTermRedefinition, ld.InvalidRemoteContext:
				err = &contextError{err}
			}
		}
	}()
	active, err := c.context(doc["@context"])
	if err != nil {
		return "", nil, err
	}
	element := make(map[string]any, len(doc))
	for k, v := range doc {
		if k != "@context" {
			element[k] = v
		}
	}
	api := ld.NewJsonLdApi()
	exp, err := api.Expand(active, "", element, c.opts, false, nil)
	if err != nil {
		return "", nil, err
	}
	expanded := normaliseExpanded(exp)

	// Expansion drops terms no context defines, keyword-like keys and values without a
	// subject. Every leaf value of the input must still be there.
	want := inputLeaves(element)
	got, ok := expandedLeaves(expanded)
	if !ok {
		return "", nil, errors.New("JSON literal arrays (@json) are not supported")
	}
	if got != want {
		return "", nil, errDropped
	}

	// RDF conversion drops nodes and properties with relative IRIs and statements with invalid
	// IRIs or language tags: refuse the first two outright, count statements for the rest.
	issuer := ld.NewIdentifierIssuer("_:b")
	nodeMap := map[string]any{"@default": map[string]any{}}
	if _, err := api.GenerateNodeMap(expanded, nodeMap, "@default", issuer, "", "", nil); err != nil {
		return "", nil, err
	}
	dataset := ld.NewRDFDataset()
	expected := 0
	for graphName, g := range nodeMap {
		if graphName != "@default" && ld.IsRelativeIri(graphName) {
			return "", nil, errDropped
		}
		graph, _ := g.(map[string]any)
		n, err := countStatements(graph)
		if err != nil {
			return "", nil, err
		}
		expected += n
		dataset.GraphToRDF(graphName, graph, issuer, false)
	}
	actual := 0
	for _, quads := range dataset.Graphs {
		actual += len(quads)
	}
	if actual != expected {
		return "", nil, errDropped
	}
	graph = newSignedGraph(dataset) // before Normalize, which relabels blank nodes in place
	res, err := api.Normalize(dataset, c.opts)
	if err != nil {
		return "", nil, err
	}
	s, ok := res.(string)
	if !ok {
		return "", nil, errors.New("normalisation produced no N-Quads")
	}
	return s, graph, nil
}

// contextError says a document's contexts cannot be processed: a context that is not
// embedded, or one that redefines a protected term.
type contextError struct{ err error }

func (e *contextError) Error() string { return e.err.Error() }
func (e *contextError) Unwrap() error { return e.err }

// context returns the processed form of a top-level @context value, from the cache if it has
// been seen.
func (c *canonicalizer) context(value any) (*ld.Context, error) {
	keyBytes, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	key := string(keyBytes)
	c.mu.RLock()
	cached, ok := c.contexts[key]
	c.mu.RUnlock()
	if ok {
		return cached, nil
	}
	active, err := ld.NewContext(nil, c.opts).Parse(value)
	if err != nil {
		return nil, err
	}
	if len(key) <= maxCachedContextKey {
		c.mu.Lock()
		if len(c.contexts) < maxCachedContexts {
			c.contexts[key] = active
		}
		c.mu.Unlock()
	}
	return active, nil
}

// normaliseExpanded is the last step of json-gold's expansion entry point.
func normaliseExpanded(exp any) []any {
	if m, isMap := exp.(map[string]any); isMap {
		if len(m) == 0 {
			return []any{}
		}
		if g, hasGraph := m["@graph"]; hasGraph && len(m) == 1 {
			exp = g
		}
	}
	switch e := exp.(type) {
	case nil:
		return []any{}
	case []any:
		return e
	default:
		return []any{e}
	}
}

// inputLeaves counts the scalar values of a compacted document outside its contexts. A value
// object counts once (its @value), plus its @index.
func inputLeaves(v any) int {
	switch x := v.(type) {
	case map[string]any:
		if val, isValue := x["@value"]; isValue {
			if val == nil {
				return 0
			}
			n := 1
			if _, ok := x["@index"]; ok {
				n++
			}
			return n
		}
		n := 0
		for k, e := range x {
			if k == "@context" {
				continue
			}
			n += inputLeaves(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += inputLeaves(e)
		}
		return n
	case nil:
		return 0
	default:
		return 1
	}
}

// expandedLeaves counts the values of an expanded document the way inputLeaves counts the
// compacted one: @value (and @index) of value objects, @id, @type and @index of node objects.
// A JSON literal counts the leaves of its value; ok is false for JSON literal arrays, which
// are refused.
func expandedLeaves(v any) (int, bool) {
	switch x := v.(type) {
	case map[string]any:
		if val, isValue := x["@value"]; isValue {
			if t, _ := x["@type"].(string); t == "@json" {
				// json-gold signs JSON objects (canonicalised) and scalars; it would sign
				// an array as an error message, so arrays are refused.
				if _, isArray := val.([]any); isArray {
					return 0, false
				}
				return inputLeaves(val), true
			}
			n := 1
			if _, ok := x["@index"]; ok {
				n++
			}
			return n, true
		}
		n := 0
		for k, e := range x {
			switch k {
			case "@id", "@index":
				if _, isString := e.(string); isString {
					n++
				}
			case "@type":
				if list, isList := e.([]any); isList {
					n += len(list)
				} else if e != nil {
					n++
				}
			default:
				m, ok := expandedLeaves(e)
				if !ok {
					return 0, false
				}
				n += m
			}
		}
		return n, true
	case []any:
		n := 0
		for _, e := range x {
			m, ok := expandedLeaves(e)
			if !ok {
				return 0, false
			}
			n += m
		}
		return n, true
	case nil:
		return 0, true
	default:
		return 1, true
	}
}

// countStatements returns how many RDF statements json-gold's GraphToRDF makes of a node map
// graph before it drops invalid ones, and refuses what it would skip silently.
func countStatements(graph map[string]any) (int, error) {
	n := 0
	for id, nv := range graph {
		if ld.IsRelativeIri(id) {
			return 0, errDropped
		}
		node, _ := nv.(map[string]any)
		for prop, values := range node {
			if prop == "@type" {
				list, _ := values.([]any)
				n += len(list)
				continue
			}
			if ld.IsKeyword(prop) {
				continue
			}
			if len(prop) >= 2 && prop[:2] == "_:" || ld.IsRelativeIri(prop) {
				return 0, errDropped
			}
			list, _ := values.([]any)
			for _, item := range list {
				m, err := countObject(item)
				if err != nil {
					return 0, err
				}
				n += 1 + m
			}
		}
	}
	return n, nil
}

// countObject returns the extra statements an object makes (a list's first/rest links) and
// refuses references by relative IRI, which would be dropped.
func countObject(item any) (int, error) {
	m, ok := item.(map[string]any)
	if !ok {
		return 0, nil
	}
	if _, isValue := m["@value"]; isValue {
		return 0, nil
	}
	if list, isList := m["@list"].([]any); isList {
		n := 0
		for _, e := range list {
			k, err := countObject(e)
			if err != nil {
				return 0, err
			}
			n += 2 + k
		}
		return n, nil
	}
	if id, _ := m["@id"].(string); id != "" && ld.IsRelativeIri(id) {
		return 0, errDropped
	}
	return 0, nil
}
