package anoncreds

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"testing"
)

// Tamper is a JSON document with exactly one number changed.
type Tamper struct {
	Path string // where, and how
	Doc  []byte
}

var decimalRE = regexp.MustCompile(`^-?[0-9]+$`)

// NumberTampers returns, for every number under the given top-level members of doc
// (decimal strings, JSON numbers, and each c_list entry read as a big-endian integer), the
// document with that one number plus one and, separately, with one of its bits flipped.
// With no members given it walks the whole document.
func NumberTampers(t testing.TB, doc []byte, members ...string) []Tamper {
	t.Helper()
	var root any
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		t.Fatal(err)
	}
	var paths [][]any
	var walk func(v any, path []any)
	walk = func(v any, path []any) {
		p := append([]any(nil), path...)
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k], append(p, k))
			}
		case []any:
			if len(p) >= 1 && p[len(p)-1] == "c_list" {
				for i := range x {
					paths = append(paths, append(append([]any(nil), p...), i))
				}
				return
			}
			for i, e := range x {
				walk(e, append(p, i))
			}
		case string:
			if decimalRE.MatchString(x) {
				paths = append(paths, p)
			}
		case json.Number:
			paths = append(paths, p)
		}
	}
	if len(members) == 0 {
		walk(root, nil)
	} else {
		for _, m := range members {
			walk(root.(map[string]any)[m], []any{m})
		}
	}
	var out []Tamper
	for _, p := range paths {
		for _, how := range []string{"+1", "flip"} {
			var r any
			dec := json.NewDecoder(bytes.NewReader(doc))
			dec.UseNumber()
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			parent := r
			for _, k := range p[:len(p)-1] {
				switch c := parent.(type) {
				case map[string]any:
					parent = c[k.(string)]
				case []any:
					parent = c[k.(int)]
				}
			}
			last := p[len(p)-1]
			get := func() any {
				if m, ok := parent.(map[string]any); ok {
					return m[last.(string)]
				}
				return parent.([]any)[last.(int)]
			}
			set := func(v any) {
				if m, ok := parent.(map[string]any); ok {
					m[last.(string)] = v
				} else {
					parent.([]any)[last.(int)] = v
				}
			}
			change := func(x *big.Int) *big.Int {
				y := new(big.Int).Abs(x)
				if how == "+1" {
					return new(big.Int).Add(x, big.NewInt(1))
				}
				bit := y.BitLen() / 2
				y.SetBit(y, bit, y.Bit(bit)^1)
				if x.Sign() < 0 {
					y.Neg(y)
				}
				return y
			}
			switch v := get().(type) {
			case string:
				x, _ := new(big.Int).SetString(v, 10)
				set(change(x).String())
			case json.Number:
				x, _ := new(big.Int).SetString(v.String(), 10)
				set(json.Number(change(x).String()))
			case []any: // a c_list entry: bytes of a big-endian integer
				bs := make([]byte, len(v))
				for i, e := range v {
					n, _ := e.(json.Number).Int64()
					bs[i] = byte(n)
				}
				y := change(new(big.Int).SetBytes(bs)).Bytes()
				arr := make([]any, len(y))
				for i, b := range y {
					arr[i] = json.Number(fmt.Sprint(b))
				}
				set(arr)
			}
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Tamper{Path: fmt.Sprintf("%v %s", p, how), Doc: b})
		}
	}
	return out
}

// Every single-number change of an external vector — in the proof, in requested_proof, in
// the issuer's key, in the nonce — is refused.
func TestExternalVectorTampersRefused(t *testing.T) {
	for _, v := range externalVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			count := 0
			members := []string{"proof", "requested_proof"}
			if !v.standardEncoding { // only its CL proof is verified (see run)
				members = members[:1]
			}
			for _, tm := range NumberTampers(t, v.presentation, members...) {
				count++
				if err := v.run(v.request, tm.Doc, v.schema, v.credDef); err == nil {
					t.Errorf("presentation %s accepted", tm.Path)
				}
			}
			for _, tm := range NumberTampers(t, v.credDef, "value") {
				count++
				if err := v.run(v.request, v.presentation, v.schema, tm.Doc); err == nil {
					t.Errorf("credential definition %s accepted", tm.Path)
				}
			}
			for _, tm := range NumberTampers(t, v.request, "nonce") {
				count++
				if err := v.run(tm.Doc, v.presentation, v.schema, v.credDef); err == nil {
					t.Errorf("request %s accepted", tm.Path)
				}
			}
			if count < 30 {
				t.Fatalf("only %d tampers", count)
			}
			t.Logf("%d single-number tampers", count)
		})
	}
}
