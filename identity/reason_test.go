package identity

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestEveryReasonIsExplainedAndDocumented reads the Reason constants from the source, so that
// a new one cannot be added without the sentence wallets are told, a line in the README and
// the chat page's wording.
func TestEveryReasonIsExplainedAndDocumented(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "reason.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("../api/web/assets/chat.js") // what the customer's page says
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			for _, val := range v.Values {
				code := Reason(strings.Trim(val.(*ast.BasicLit).Value, `"`))
				n++
				if _, ok := explanations[code]; !ok {
					t.Errorf("reason %q has no explanation for wallets", code)
				}
				if !strings.Contains(string(readme), "`"+string(code)+"`") {
					t.Errorf("reason %q is not in README.md", code)
				}
				if !strings.Contains(string(page), "\n  "+string(code)+": '") {
					t.Errorf("reason %q has no wording in the chat page's REASONS", code)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("found %d reasons in reason.go; the test no longer reads them", n)
	}
}
