package identity_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// The differential test of JSON-LD verification. A holder may respell a signed credential or
// presentation in any way JSON-LD allows; the statements a proof signs stay the same, and so
// must every fact the verifier acts on. Some spellings change the statements, and those must
// never verify. So, for any rewrite of a valid presentation:
//
//	the verifier refuses it, or it accepts it with exactly the facts of the original;
//	a rewrite that changes signed statements is always refused.
//
// The generator below makes both kinds: semantics-preserving rewrites (absolute IRIs, aliases,
// every container type, @nest, @included, @graph, @reverse, @vocab, value objects, singletons
// and arrays, duplicate values, inline and reordered contexts) and changes (a value, a
// claim added or removed, a language or list container). A verifier that refused everything
// would pass the property, so the test also demands that every preserving kind be accepted
// somewhere under a policy that allows inline contexts: the facts really are read through
// each spelling.

// termIRI is what a term of the test credentials means: its IRI and how a bare string value
// of it is read (an IRI, a date, or a plain string).
type termIRI struct {
	iri    string
	coerce string // "@id", xsdDate or ""
}

var rewriteTerms = map[string]termIRI{
	"issuer":               {credNS + "issuer", "@id"},
	"issuanceDate":         {credNS + "issuanceDate", xsdDate},
	"expirationDate":       {credNS + "expirationDate", xsdDate},
	"credentialSubject":    {credNS + "credentialSubject", "@id"},
	"credentialStatus":     {credNS + "credentialStatus", "@id"},
	"holder":               {credNS + "holder", "@id"},
	"givenName":            {"https://schema.org/givenName", ""},
	"familyName":           {"https://schema.org/familyName", ""},
	"memberId":             {memberID, ""},
	"statusPurpose":        {"https://w3id.org/vc/status-list#statusPurpose", ""},
	"statusListIndex":      {"https://w3id.org/vc/status-list#statusListIndex", ""},
	"statusListCredential": {"https://w3id.org/vc/status-list#statusListCredential", "@id"},
	"challenge":            {"https://w3id.org/security#challenge", ""},
	"domain":               {"https://w3id.org/security#domain", ""},
	"created":              {"http://purl.org/dc/terms/created", xsdDate},
	"verificationMethod":   {"https://w3id.org/security#verificationMethod", "@id"},
}

// rewriteKinds are the rewrites, by name; changes marks those that alter signed statements.
var rewriteKinds = []struct {
	name    string
	changes bool
	apply   func(r *rewriter, s slot) bool
}{
	{"absolute IRI", false, (*rewriter).absoluteIRI},
	{"alias", false, (*rewriter).alias},
	{"@index container", false, (*rewriter).indexContainer},
	{"@id container", false, (*rewriter).idContainer},
	{"@type container", false, (*rewriter).typeContainer},
	{"@set container", false, (*rewriter).setContainer},
	{"array of one", false, (*rewriter).array},
	{"duplicate value", false, (*rewriter).duplicate},
	{"value object", false, (*rewriter).valueObject},
	{"@nest", false, (*rewriter).nest},
	{"@included", false, (*rewriter).included},
	{"@reverse", false, (*rewriter).reverse},
	{"@vocab", false, (*rewriter).vocab},
	{"@graph", false, (*rewriter).graph},
	{"inline context", false, (*rewriter).inlineContext},
	{"reordered contexts", false, (*rewriter).reorderContexts},
	{"changed value", true, (*rewriter).changeValue},
	{"added claim", true, (*rewriter).addClaim},
	{"removed member", true, (*rewriter).remove},
	{"@language container", true, (*rewriter).languageContainer},
	{"@list container", true, (*rewriter).listContainer},
}

// mayBeRefused are preserving kinds the verifier may refuse however they are placed: @graph
// moves the members it reads first (proof, type) out of place; a reordered context list may
// be one whose definitions collide; and index, id and type maps turn keys into values, which
// the check that every value of the JSON is signed (canonicalizer.canonicalize) counts as a
// value it cannot find in the JSON, and refuses (malformed). No wallet writes credentials
// with such maps; if one did, reading facts from the statements would still be right.
var mayBeRefused = map[string]bool{"@graph": true, "reordered contexts": true,
	"@index container": true, "@id container": true, "@type container": true}

// slot is a member of a node: a place a rewrite can act on. doc is the document (presentation
// or credential) whose @context a rewrite may extend.
type slot struct {
	doc  map[string]any
	node map[string]any
	key  string
	root bool // node is doc itself
}

// rewriter applies rewrites to one decoded presentation.
type rewriter struct {
	rnd     *rand.Rand
	vp      map[string]any
	loader  *identity.ContextLoader
	counter int
	inline  bool // an inline context was added
}

func (r *rewriter) fresh(prefix string) string {
	r.counter++
	return fmt.Sprintf("%s%d", prefix, r.counter)
}

// slots lists the members of every node of the presentation, its credentials, their subjects,
// status entries and proofs, in a stable order.
func (r *rewriter) slots() []slot {
	var out []slot
	var walk func(doc map[string]any, node map[string]any, root bool, depth int)
	walk = func(doc, node map[string]any, root bool, depth int) {
		if depth > 6 {
			return
		}
		for _, k := range sortedMapKeys(node) {
			if k == "@context" {
				continue
			}
			out = append(out, slot{doc, node, k, root})
			v := node[k]
			if k == "verifiableCredential" {
				for _, vc := range asList(v) {
					if m, ok := vc.(map[string]any); ok {
						walk(m, m, true, depth+1)
					}
				}
				continue
			}
			for _, e := range asList(v) {
				if m, ok := e.(map[string]any); ok {
					walk(doc, m, false, depth+1)
				}
			}
		}
	}
	walk(r.vp, r.vp, true, 0)
	return out
}

func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

func sortedMapKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// addContext appends a definition to doc's @context (an inline context of its own).
func (r *rewriter) addContext(doc map[string]any, def map[string]any) {
	r.inline = true
	ctx := doc["@context"]
	list, ok := ctx.([]any)
	if !ok {
		list = []any{ctx}
	}
	doc["@context"] = append(slices.Clone(list), def)
}

// definition is what term means, as a JSON-LD term definition with an optional container.
func definition(t termIRI, container string) map[string]any {
	d := map[string]any{"@id": t.iri}
	if t.coerce != "" {
		d["@type"] = t.coerce
	}
	if container != "" {
		d["@container"] = container
	}
	return d
}

// expanded returns a value of term t spelled out so that it means the same without the term's
// coercion.
func expanded(t termIRI, v any) (any, bool) {
	switch t.coerce {
	case "":
		return v, true
	case "@id":
		switch x := v.(type) {
		case string:
			return map[string]any{"@id": x}, true
		case map[string]any:
			return x, true // a node object means the same anywhere
		}
	case xsdDate:
		if s, ok := v.(string); ok {
			return map[string]any{"@value": s, "@type": xsdDate}, true
		}
	}
	return nil, false
}

func (r *rewriter) term(s slot) (termIRI, bool) {
	t, ok := rewriteTerms[s.key]
	return t, ok
}

func (r *rewriter) absoluteIRI(s slot) bool {
	t, ok := r.term(s)
	if !ok {
		return false
	}
	var vals []any
	for _, e := range asList(s.node[s.key]) {
		x, ok := expanded(t, e)
		if !ok {
			return false
		}
		vals = append(vals, x)
	}
	delete(s.node, s.key)
	s.node[t.iri] = vals
	return true
}

func (r *rewriter) alias(s slot) bool {
	t, ok := r.term(s)
	if !ok {
		return false
	}
	name := r.fresh("alias")
	r.addContext(s.doc, map[string]any{name: definition(t, "")})
	s.node[name] = s.node[s.key]
	delete(s.node, s.key)
	return true
}

func (r *rewriter) indexContainer(s slot) bool {
	t, ok := r.term(s)
	if !ok {
		return false
	}
	name := r.fresh("byIndex")
	r.addContext(s.doc, map[string]any{name: definition(t, "@index")})
	s.node[name] = map[string]any{r.fresh("i"): s.node[s.key]}
	delete(s.node, s.key)
	return true
}

func (r *rewriter) idContainer(s slot) bool {
	t, ok := r.term(s)
	node, isNode := s.node[s.key].(map[string]any)
	if !ok || !isNode {
		return false
	}
	id, _ := node["id"].(string)
	if id == "" {
		return false
	}
	rest := copyMap(node)
	delete(rest, "id")
	name := r.fresh("byID")
	r.addContext(s.doc, map[string]any{name: map[string]any{"@id": t.iri, "@container": "@id"}})
	s.node[name] = map[string]any{id: rest}
	delete(s.node, s.key)
	return true
}

func (r *rewriter) typeContainer(s slot) bool {
	t, ok := r.term(s)
	node, isNode := s.node[s.key].(map[string]any)
	if !ok || !isNode {
		return false
	}
	typ, _ := node["type"].(string)
	if typ == "" {
		return false
	}
	rest := copyMap(node)
	delete(rest, "type")
	name := r.fresh("byType")
	r.addContext(s.doc, map[string]any{name: map[string]any{"@id": t.iri, "@container": "@type"}})
	s.node[name] = map[string]any{typ: rest}
	delete(s.node, s.key)
	return true
}

func (r *rewriter) setContainer(s slot) bool {
	t, ok := r.term(s)
	if !ok {
		return false
	}
	name := r.fresh("set")
	r.addContext(s.doc, map[string]any{name: definition(t, "@set")})
	s.node[name] = asList(s.node[s.key])
	delete(s.node, s.key)
	return true
}

func (r *rewriter) array(s slot) bool {
	if _, ok := r.term(s); !ok {
		return false
	}
	if _, isList := s.node[s.key].([]any); isList {
		return false
	}
	s.node[s.key] = []any{s.node[s.key]}
	return true
}

func (r *rewriter) duplicate(s slot) bool {
	if _, ok := r.term(s); !ok {
		return false
	}
	v, isString := s.node[s.key].(string)
	if !isString {
		return false
	}
	s.node[s.key] = []any{v, v}
	return true
}

func (r *rewriter) valueObject(s slot) bool {
	t, ok := r.term(s)
	v, isString := s.node[s.key].(string)
	if !ok || !isString || t.coerce == "@id" {
		return false
	}
	vo := map[string]any{"@value": v}
	if t.coerce != "" {
		vo["@type"] = t.coerce
	}
	s.node[s.key] = vo
	return true
}

func (r *rewriter) nest(s slot) bool {
	if _, ok := r.term(s); !ok {
		return false
	}
	name := r.fresh("nested")
	r.addContext(s.doc, map[string]any{name: "@nest"})
	s.node[name] = map[string]any{s.key: s.node[s.key]}
	delete(s.node, s.key)
	return true
}

// included moves a node with an id out of its place into the containing node's @included
// block, leaving a reference.
func (r *rewriter) included(s slot) bool {
	t, ok := r.term(s)
	node, isNode := s.node[s.key].(map[string]any)
	if !ok || !isNode || t.coerce != "@id" {
		return false
	}
	id, _ := node["id"].(string)
	if id == "" || len(node) < 2 {
		return false
	}
	s.node[s.key] = id
	s.node["@included"] = append(asListOrNil(s.node["@included"]), node)
	return true
}

func asListOrNil(v any) []any {
	if v == nil {
		return nil
	}
	return asList(v)
}

// reverse states a node's link to its parent from the node: the parent must have an id.
func (r *rewriter) reverse(s slot) bool {
	t, ok := r.term(s)
	node, isNode := s.node[s.key].(map[string]any)
	parentID, _ := s.node["id"].(string)
	if !ok || !isNode || t.coerce != "@id" || parentID == "" {
		return false
	}
	moved := copyMap(node)
	moved["@reverse"] = map[string]any{t.iri: map[string]any{"@id": parentID}}
	delete(s.node, s.key)
	s.node["@included"] = append(asListOrNil(s.node["@included"]), moved)
	return true
}

// vocab makes the member's IRI vocabulary-relative: @vocab "https://" and the rest as key.
func (r *rewriter) vocab(s slot) bool {
	t, ok := r.term(s)
	if !ok || !strings.HasPrefix(t.iri, "https://") {
		return false
	}
	var vals []any
	for _, e := range asList(s.node[s.key]) {
		x, ok := expanded(t, e)
		if !ok {
			return false
		}
		vals = append(vals, x)
	}
	r.addContext(s.doc, map[string]any{"@vocab": "https://"})
	delete(s.node, s.key)
	s.node[strings.TrimPrefix(t.iri, "https://")] = vals
	return true
}

// graph wraps the slot's document in a top-level @graph.
func (r *rewriter) graph(s slot) bool {
	if !s.root {
		return false
	}
	inner := copyMap(s.doc)
	delete(inner, "@context")
	for k := range s.doc {
		if k != "@context" {
			delete(s.doc, k)
		}
	}
	s.doc["@graph"] = []any{inner}
	return true
}

// inlineContext replaces a context URL of the slot's document with the context it names.
func (r *rewriter) inlineContext(s slot) bool {
	list, ok := s.doc["@context"].([]any)
	if !ok || !s.root {
		return false
	}
	var urls []int
	for i, c := range list {
		if _, isURL := c.(string); isURL && i > 0 { // the first names the data model
			urls = append(urls, i)
		}
	}
	if len(urls) == 0 {
		return false
	}
	i := urls[r.rnd.IntN(len(urls))]
	doc, err := r.loader.LoadDocument(list[i].(string))
	if err != nil {
		return false
	}
	content, _ := doc.Document.(map[string]any)["@context"]
	b, _ := json.Marshal(content) // a copy: the loader's document is shared
	var c any
	json.Unmarshal(b, &c)
	list = slices.Clone(list)
	list[i] = c
	s.doc["@context"] = list
	r.inline = true
	return true
}

func (r *rewriter) reorderContexts(s slot) bool {
	list, ok := s.doc["@context"].([]any)
	if !ok || len(list) < 3 || !s.root {
		return false
	}
	list = slices.Clone(list)
	rest := list[1:]
	r.rnd.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	s.doc["@context"] = list
	return true
}

// isProof reports whether a node is a Data Integrity proof: its id is the one member of it no
// proof signs.
func isProof(node map[string]any) bool { return node["proofValue"] != nil || node["jws"] != nil }

func (r *rewriter) changeValue(s slot) bool {
	v, isString := s.node[s.key].(string)
	if !isString || (s.key == "id" && isProof(s.node)) {
		return false
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		s.node[s.key] = t.Add(time.Second).UTC().Format(time.RFC3339)
		return true
	}
	s.node[s.key] = v + "x"
	return true
}

func (r *rewriter) addClaim(s slot) bool {
	if _, isSubject := s.node["givenName"]; !isSubject || s.node["email"] != nil {
		return false
	}
	s.node["email"] = "ada@example.com"
	return true
}

func (r *rewriter) remove(s slot) bool {
	if s.key == "id" && isProof(s.node) {
		return false // a proof's id is not signed
	}
	if s.key == "verifiableCredential" {
		return false // the credentials are verified on their own; taking one away is another presentation
	}
	delete(s.node, s.key)
	return true
}

func (r *rewriter) languageContainer(s slot) bool {
	t, ok := r.term(s)
	v, isString := s.node[s.key].(string)
	if !ok || !isString || t.coerce != "" {
		return false
	}
	name := r.fresh("byLanguage")
	r.addContext(s.doc, map[string]any{name: map[string]any{"@id": t.iri, "@container": "@language"}})
	s.node[name] = map[string]any{"en": v}
	delete(s.node, s.key)
	return true
}

func (r *rewriter) listContainer(s slot) bool {
	t, ok := r.term(s)
	if !ok || t.coerce != "" {
		return false
	}
	name := r.fresh("list")
	r.addContext(s.doc, map[string]any{name: definition(t, "@list")})
	s.node[name] = asList(s.node[s.key])
	delete(s.node, s.key)
	return true
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// rewrite applies n random rewrites (kinds chosen by pick) to a copy of vp. It returns the
// rewritten presentation, the kinds applied, whether any of them changes signed statements,
// and whether an inline context was added.
func rewritePresentation(vp []byte, loader *identity.ContextLoader, rnd *rand.Rand, n int, pick func() int) (out []byte, applied []string, changes bool) {
	var m map[string]any
	if err := json.Unmarshal(vp, &m); err != nil {
		panic(err)
	}
	r := &rewriter{rnd: rnd, vp: m, loader: loader}
	for tries := 0; len(applied) < n && tries < 50; tries++ {
		k := rewriteKinds[pick()]
		slots := r.slots()
		if len(slots) == 0 {
			break
		}
		s := slots[rnd.IntN(len(slots))]
		if k.apply(r, s) {
			applied = append(applied, k.name)
			changes = changes || k.changes
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out, applied, changes
}

// facts are what a verification accepted.
func facts(res *identity.Result) string {
	b, _ := json.Marshal(res)
	return string(b)
}

// rewriteBase is one valid presentation to rewrite, and the verifier's facts about it.
type rewriteBase struct {
	name  string
	vp    []byte
	facts string
}

func rewriteBases(t testing.TB, w *world) []rewriteBase {
	t.Helper()
	opt := w.opts()
	opt.Status = &issuer.Status{ListURL: w.statusList("/rewrite/list", "revocation", false, 3), Index: 42}
	bases := []rewriteBase{
		{name: "ldp", vp: w.ldVP(w.ldVC(opt))},
		{name: "bbs", vp: w.ldVP(w.bbsVC([]string{"givenName", "familyName", "memberId"}, w.opts()))},
	}
	for i := range bases {
		res, err := w.verifier(identity.VerifierConfig{Replay: forgetful{}}).Verify(context.Background(), bases[i].vp, w.req(nil))
		if err != nil {
			t.Fatalf("%s: the base presentation does not verify: %v", bases[i].name, err)
		}
		bases[i].facts = facts(res)
	}
	return bases
}

// checkRewrite verifies a rewritten presentation under both policies and reports a broken
// property.
func checkRewrite(t testing.TB, v *identity.Verifier, w *world, base rewriteBase, vp []byte, applied []string, changes bool) (acceptedInline bool) {
	t.Helper()
	strict, inline := w.policy(), w.policy()
	inline.AllowInlineContexts = true
	for _, p := range []*identity.Policy{strict, inline} {
		res, err := v.Verify(context.Background(), vp, w.req(p))
		if err != nil {
			if identity.ReasonOf(err) == "" {
				t.Fatalf("%s %v: an error without a reason: %v\n%s", base.name, applied, err, vp)
			}
			continue
		}
		if changes {
			t.Fatalf("%s %v: a change to signed statements was accepted\n%s", base.name, applied, vp)
		}
		if got := facts(res); got != base.facts {
			t.Fatalf("%s %v: accepted with other facts\n got  %s\n want %s\n%s", base.name, applied, got, base.facts, vp)
		}
		if p == inline {
			acceptedInline = true
		}
	}
	return acceptedInline
}

// TestJSONLDRewrites: every rewrite kind alone, on every member it applies to, then a fixed
// seed set of random combinations.
func TestJSONLDRewrites(t *testing.T) {
	w := newWorld(t)
	bases := rewriteBases(t, w)
	v := w.verifier(identity.VerifierConfig{Replay: forgetful{}})
	total := 0

	for ki, k := range rewriteKinds {
		t.Run(k.name, func(t *testing.T) {
			accepted, tried := 0, 0
			for _, base := range bases {
				// Each slot of the base once: the kind on every member it applies to.
				var m map[string]any
				json.Unmarshal(base.vp, &m)
				n := len((&rewriter{vp: m}).slots())
				for i := range n {
					var doc map[string]any
					json.Unmarshal(base.vp, &doc)
					r := &rewriter{rnd: rand.New(rand.NewPCG(uint64(i), 1)), vp: doc, loader: w.f.loader}
					if !rewriteKinds[ki].apply(r, r.slots()[i]) {
						continue
					}
					out, _ := json.Marshal(doc)
					tried++
					total++
					if checkRewrite(t, v, w, base, out, []string{k.name}, k.changes) {
						accepted++
					}
				}
			}
			if tried == 0 {
				t.Fatal("the kind applies to no member of the base presentations")
			}
			if !k.changes && !mayBeRefused[k.name] && accepted == 0 {
				t.Fatalf("none of %d rewrites was accepted: the verifier does not read the facts through this spelling", tried)
			}
			t.Logf("%d rewrites, %d accepted with inline contexts allowed", tried, accepted)
		})
	}

	t.Run("random combinations", func(t *testing.T) {
		const perBase = 2100
		accepted := 0
		for bi, base := range bases {
			n := perBase
			if base.name == "bbs" {
				n = perBase / 5 // a BBS+ proof costs five times as much to check
			}
			for i := range n {
				rnd := rand.New(rand.NewPCG(uint64(i), uint64(bi)))
				vp, applied, changes := rewritePresentation(base.vp, w.f.loader, rnd, 1+rnd.IntN(3), func() int { return rnd.IntN(len(rewriteKinds)) })
				total++
				if checkRewrite(t, v, w, base, vp, applied, changes) {
					accepted++
				}
			}
		}
		t.Logf("%d rewrites in all; %d random combinations accepted", total, accepted)
		if accepted == 0 {
			t.Fatal("no random combination was accepted")
		}
	})
}

// FuzzJSONLDRewrites explores rewrite sequences beyond the fixed seeds (`make fuzz`). The
// input chooses the base, the random stream and the kinds.
func FuzzJSONLDRewrites(f *testing.F) {
	w := newWorld(f)
	bases := rewriteBases(f, w)
	v := w.verifier(identity.VerifierConfig{Replay: forgetful{}})
	for i := range 8 {
		f.Add(uint8(i%2), uint64(i), []byte{byte(i), byte(3 * i), byte(7 * i)})
	}
	f.Fuzz(func(t *testing.T, base uint8, seed uint64, kinds []byte) {
		if len(kinds) == 0 || len(kinds) > 8 {
			return
		}
		b := bases[int(base)%len(bases)]
		rnd := rand.New(rand.NewPCG(seed, binary.LittleEndian.Uint64(append(slices.Clone(kinds), make([]byte, 8)...))))
		next := 0
		vp, applied, changes := rewritePresentation(b.vp, w.f.loader, rnd, len(kinds), func() int {
			k := int(kinds[next%len(kinds)]) % len(rewriteKinds)
			next++
			return k
		})
		checkRewrite(t, v, w, b, vp, applied, changes)
	})
}
