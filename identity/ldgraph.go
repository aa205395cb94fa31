package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/piprate/json-gold/ld"
)

// This file is the one way the verifier reads JSON-LD: every fact it acts on (issuer, subject,
// types, claims, dates, status entries, proof purpose, challenge, domain, verification method)
// comes from the RDF statements a Data Integrity proof signs, never from the JSON a holder sent.
//
// A JSON-LD document's JSON is only one of many spellings of its statements: a holder can move
// a member under its absolute IRI, alias it, nest it, index it or state it in reverse, and the
// signature still verifies, because it covers the statements, not the spelling. A verifier that
// reads "issuer" or "expirationDate" from the JSON reads whatever the holder chose to leave
// there. So the statements are read back here, under a fixed vocabulary: the terms the embedded
// contexts define, whatever context the document itself used.

// signedGraph is the default graph of the RDF dataset a proof signs, indexed by subject.
type signedGraph struct {
	// out holds each subject's statements, in the order json-gold produced them; a subject is
	// an IRI or a blank node label ("_:b0").
	out map[string][]statement
}

// statement is one predicate and object of a subject.
type statement struct {
	predicate string
	object    ld.Node
}

// newSignedGraph indexes the default graph of a dataset.
func newSignedGraph(ds *ld.RDFDataset) *signedGraph {
	g := &signedGraph{out: map[string][]statement{}}
	for _, q := range ds.Graphs["@default"] {
		s, o := nodeKey(q.Subject), q.Object
		if b, ok := o.(*ld.BlankNode); ok {
			o = &ld.BlankNode{Attribute: b.Attribute} // Normalize relabels blank nodes in place
		}
		g.out[s] = append(g.out[s], statement{predicate: q.Predicate.GetValue(), object: o})
	}
	return g
}

// nodeKey is the key of an IRI or blank node in signedGraph.out.
func nodeKey(n ld.Node) string {
	if b, ok := n.(*ld.BlankNode); ok {
		return b.Attribute
	}
	return n.GetValue()
}

// isBlank reports whether a subject key names no resource of its own: a blank node, or the
// urn:bnid: IRI a BBS+ derived proof gives a blank node it reveals.
func isBlank(key string) bool {
	return strings.HasPrefix(key, "_:") || strings.HasPrefix(key, "urn:bnid:")
}

// typed returns the subjects whose rdf:type includes typeIRI, in a stable order.
func (g *signedGraph) typed(typeIRI string) []string {
	var out []string
	for s, sts := range g.out {
		for _, st := range sts {
			if st.predicate == ld.RDFType && st.object.GetValue() == typeIRI {
				out = append(out, s)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

// objects returns the objects of subject's statements with predicate.
func (g *signedGraph) objects(subject, predicate string) []ld.Node {
	var out []ld.Node
	for _, st := range g.out[subject] {
		if st.predicate == predicate {
			out = append(out, st.object)
		}
	}
	return out
}

// maxReadDepth bounds how deep read follows nested nodes (a claim's address, its country…).
const maxReadDepth = 8

// errReadConflict says two different predicates of one node have the same name in the
// vocabulary: reading them would let one spelling stand for the other.
var errReadConflict = errors.New("two different properties of one node have the same name")

// read returns what the graph says about subject, as a JSON object under the vocabulary's
// names: "id" (unless the subject is blank), "type" (sorted names of its types) and one member
// per predicate. An object that is a literal becomes a string, number, boolean or JSON value
// by its datatype; a node with statements of its own is read in turn, one without is its IRI;
// an RDF list is an array in order. A predicate with several objects is an array sorted by
// their JSON encoding: the statements of a graph have no order, and nor has this array.
func (g *signedGraph) read(subject string, vocab *vocabulary) (map[string]any, error) {
	return g.readNode(subject, vocab, 0, map[string]bool{})
}

func (g *signedGraph) readNode(subject string, vocab *vocabulary, depth int, visiting map[string]bool) (map[string]any, error) {
	if depth > maxReadDepth {
		return nil, fmt.Errorf("nested deeper than %d nodes", maxReadDepth)
	}
	if visiting[subject] {
		return nil, errors.New("a node contains itself")
	}
	visiting[subject] = true
	defer delete(visiting, subject)

	m := map[string]any{}
	if !isBlank(subject) {
		m["id"] = subject
	}
	values := map[string][]any{}
	predicates := map[string]string{} // name → the predicate IRI it was read from
	for _, st := range g.out[subject] {
		name := "type"
		var v any
		if st.predicate == ld.RDFType {
			v = vocab.name(st.object.GetValue())
		} else {
			name = vocab.name(st.predicate)
			if name == "id" || name == "type" {
				name = st.predicate // a property IRI some context calls "id" is not the node's id
			}
			var err error
			if v, err = g.readObject(st.object, vocab, depth, visiting); err != nil {
				return nil, err
			}
		}
		if p, seen := predicates[name]; seen && p != st.predicate {
			return nil, fmt.Errorf("%w: %s", errReadConflict, name)
		}
		predicates[name] = st.predicate
		values[name] = append(values[name], v)
	}
	for name, vs := range values {
		if len(vs) == 1 && name != "type" {
			m[name] = vs[0]
			continue
		}
		sortValues(vs)
		m[name] = vs
	}
	return m, nil
}

// readObject reads the object of a statement.
func (g *signedGraph) readObject(n ld.Node, vocab *vocabulary, depth int, visiting map[string]bool) (any, error) {
	if l, ok := n.(*ld.Literal); ok {
		return literalValue(l), nil
	}
	key := nodeKey(n)
	if key == ld.RDFNil {
		return []any{}, nil
	}
	if g.isList(key) {
		var list []any
		var cells []string
		defer func() {
			for _, c := range cells {
				delete(visiting, c)
			}
		}()
		for key != ld.RDFNil {
			if visiting[key] {
				return nil, errors.New("an RDF list does not end")
			}
			first, rest := g.objects(key, ld.RDFFirst), g.objects(key, ld.RDFRest)
			if len(first) != 1 || len(rest) != 1 || len(g.out[key]) != 2 {
				return nil, errors.New("an RDF list node is not a list")
			}
			visiting[key] = true
			cells = append(cells, key)
			v, err := g.readObject(first[0], vocab, depth+1, visiting)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			key = nodeKey(rest[0])
		}
		return list, nil
	}
	if _, has := g.out[key]; !has {
		if isBlank(key) {
			return map[string]any{}, nil
		}
		return key, nil
	}
	return g.readNode(key, vocab, depth+1, visiting)
}

// isList reports whether a node is an RDF list cell.
func (g *signedGraph) isList(key string) bool {
	if !isBlank(key) {
		return false
	}
	for _, st := range g.out[key] {
		if st.predicate == ld.RDFFirst {
			return true
		}
	}
	return false
}

// literalValue is a literal as a JSON value: booleans, integers and doubles as JSON's boolean
// and number (when their lexical form is valid), rdf:JSON as the JSON it holds, and everything
// else (strings in any language, dates, other datatypes) as its lexical form.
func literalValue(l *ld.Literal) any {
	switch l.Datatype {
	case ld.XSDBoolean:
		switch l.Value {
		case "true":
			return true
		case "false":
			return false
		}
	case ld.XSDInteger, ld.XSDDouble:
		if f, err := strconv.ParseFloat(l.Value, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f
		}
	case ld.RDFJSONLiteral:
		var v any
		if err := json.Unmarshal([]byte(l.Value), &v); err == nil {
			return v
		}
	}
	return l.Value
}

// sortValues orders values by their JSON encoding.
func sortValues(vs []any) {
	keys := make(map[int]string, len(vs))
	idx := make([]int, len(vs))
	for i, v := range vs {
		b, _ := json.Marshal(v)
		keys[i] = string(b)
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
	sorted := make([]any, len(vs))
	for i, j := range idx {
		sorted[i] = vs[j]
	}
	copy(vs, sorted)
}

// vocabulary names IRIs by the terms the embedded contexts define for them: the fixed
// reading of signed data. When several contexts define a term for one IRI, the first context
// in the loader's order wins; an IRI no context names is its own name.
type vocabulary struct {
	names map[string]string
}

// newVocabulary reads the term definitions of the contexts at urls, in order, including the
// contexts scoped to a type or property.
func newVocabulary(loader ld.DocumentLoader, urls []string) (*vocabulary, error) {
	opts := ld.NewJsonLdOptions("")
	opts.ProcessingMode = ld.JsonLd_1_1
	opts.DocumentLoader = loader
	v := &vocabulary{names: map[string]string{}}
	for _, u := range urls {
		active, err := ld.NewContext(nil, opts).Parse(u)
		if err != nil {
			return nil, fmt.Errorf("context %s: %w", u, err)
		}
		if err := v.add(active, opts, 0); err != nil {
			return nil, fmt.Errorf("context %s: %w", u, err)
		}
	}
	return v, nil
}

func (v *vocabulary) add(active *ld.Context, opts *ld.JsonLdOptions, depth int) error {
	defs, _ := active.AsMap()["termDefinitions"].(map[string]any)
	terms := sortedKeys(defs)
	for _, term := range terms {
		d, _ := defs[term].(map[string]any)
		iri, _ := d["@id"].(string)
		if iri == "" || ld.IsKeyword(iri) || d["@reverse"] == true {
			continue
		}
		if _, named := v.names[iri]; !named {
			v.names[iri] = term
		}
	}
	if depth > 2 {
		return nil
	}
	for _, term := range terms {
		d, _ := defs[term].(map[string]any)
		scoped, ok := d["@context"]
		if !ok {
			continue
		}
		// A scoped context is read on its own: it may redefine terms its parent protects,
		// which is what it is for, and the published ones define the prefixes they use.
		inner, err := ld.NewContext(nil, opts).Parse(scoped)
		if err != nil {
			return fmt.Errorf("the context scoped to %s: %w", term, err)
		}
		if err := v.add(inner, opts, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// name returns the term for iri, or iri itself.
func (v *vocabulary) name(iri string) string {
	if n, ok := v.names[iri]; ok {
		return n
	}
	return iri
}
