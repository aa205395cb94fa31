package rfcholder

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const (
	afg = "github.com/hyperledger/aries-framework-go"
	// credentialCode may be used to build and sign presentations: credential code, not
	// DIDComm. It depends on aries-framework-go's JSON-LD signature suites, which is why the
	// import graph is walked rather than just listed.
	credentialCode = "github.com/hearro/trustbroker/identity"
	// demoIssuer issues credentials in tests; it depends on the credential code only.
	demoIssuer = "github.com/hearro/trustbroker/internal/demo/issuer"
)

// TestNoAriesFrameworkGo keeps this holder independent of aries-framework-go: nothing it
// imports, directly or transitively, may come from the library, except through the
// credential code of the identity package (and internal/demo/issuer, which tests use to issue
// credentials). Even through those, no DIDComm, DID resolution, envelope or KMS package of
// the library may appear.
func TestNoAriesFrameworkGo(t *testing.T) {
	pkgs := goListDeps(t, ".")
	var self string // the one package go list was asked about, not a dependency
	byPath := map[string]listedPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
		if !p.DepOnly {
			self = p.ImportPath
		}
	}
	if self == "" {
		t.Fatal("go list did not list the package itself")
	}
	// Walk the import graph from the holder without entering the credential code.
	seen := map[string]string{} // package → the package that imported it
	queue := []string{self}
	seen[self] = ""
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		if strings.HasPrefix(path, afg) {
			chain := path
			for p := seen[path]; p != ""; p = seen[p] {
				chain = p + " → " + chain
			}
			t.Errorf("imports aries-framework-go: %s", chain)
			continue
		}
		if path != self && (path == credentialCode || path == demoIssuer) {
			continue
		}
		for _, imp := range byPath[path].Imports {
			if _, ok := seen[imp]; !ok {
				seen[imp] = path
				queue = append(queue, imp)
			}
		}
	}
	// Whatever the credential code brings in must not be the library's DIDComm stack.
	for _, p := range pkgs {
		for _, forbidden := range []string{"/pkg/didcomm", "/pkg/framework", "/pkg/client", "/pkg/vdr", "/pkg/doc/did", "/pkg/kms", "/pkg/crypto", "/pkg/store", "/pkg/secretlock", "/pkg/wallet"} {
			if strings.HasPrefix(p.ImportPath, afg+forbidden) {
				t.Errorf("depends on aries-framework-go's %s", p.ImportPath)
			}
		}
	}
	if len(seen) < 5 {
		t.Fatalf("walked only %d packages: the import graph was not read", len(seen))
	}
}

type listedPackage struct {
	ImportPath string
	Imports    []string
	DepOnly    bool
}

func goListDeps(t *testing.T, pattern string) []listedPackage {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-json=ImportPath,Imports,DepOnly", pattern).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatal("go list returned no packages")
	}
	return pkgs
}
