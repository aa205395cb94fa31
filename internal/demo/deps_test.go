// The packages under internal/demo (the demo holder wallet and the development issuer, whose
// private key is published) are development tools. This test keeps them out of production
// code: only the binary's commands under cmd/, the demo packages themselves and tests may
// import them.
package demo_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// demoDir is the demo tools' directory, relative to the module root.
const demoDir = "internal/demo"

// mayImportDemo reports whether the package at rel (its import path relative to the module
// root) may import the demo tools: the commands under cmd/ and the demo packages themselves.
// Tests are not listed here because go list's Imports holds non-test imports only.
func mayImportDemo(rel string) bool {
	for _, dir := range []string{"cmd", demoDir} {
		if rel == dir || strings.HasPrefix(rel, dir+"/") {
			return true
		}
	}
	return false
}

// TestProductionCodeDoesNotImportDemo fails for every non-test package of the module, outside
// cmd/ and internal/demo/, that imports a package under internal/demo: directly, or through a
// package under cmd/ (a production package in between is reported on its own).
func TestProductionCodeDoesNotImportDemo(t *testing.T) {
	modPath, pkgs := listModule(t)
	demo := modPath + "/" + demoDir
	isDemo := func(path string) bool { return path == demo || strings.HasPrefix(path, demo+"/") }

	imports := map[string][]string{} // package of the module → its non-test imports
	for _, p := range pkgs {
		imports[p.ImportPath] = p.Imports
	}
	// The check is only worth something if go list showed the graph: the demo packages are
	// listed, and something imports them.
	var demoPkgs, demoImporters int
	for _, p := range pkgs {
		if isDemo(p.ImportPath) {
			demoPkgs++
		}
		if slices.ContainsFunc(p.Imports, isDemo) {
			demoImporters++
		}
	}
	if demoPkgs == 0 || demoImporters == 0 {
		t.Fatalf("go list ./... listed %d packages, %d of them under %s and %d importing one: the import graph was not read",
			len(pkgs), demoPkgs, demo, demoImporters)
	}

	checked := 0
	for _, p := range pkgs {
		if mayImportDemo(relPath(modPath, p.ImportPath)) {
			continue
		}
		checked++
		// Walk the module's packages breadth-first from p, entering only those that may import
		// the demo tools (every other package is checked on its own), so that each offending
		// package is named once, with the first path found from it to a demo package.
		from := map[string]string{p.ImportPath: ""}
		queue := []string{p.ImportPath}
		for len(queue) > 0 {
			path := queue[0]
			queue = queue[1:]
			if isDemo(path) {
				chain := []string{path}
				for q := from[path]; q != ""; q = from[q] {
					chain = append(chain, q)
				}
				slices.Reverse(chain)
				t.Errorf("production package %s imports the demo tools: %s\n"+
					"\tonly cmd/..., %s/... and tests may import %s/...; move the code that needs them there",
					p.ImportPath, strings.Join(chain, " → "), demoDir, demoDir)
				break
			}
			if _, own := imports[path]; !own || path != p.ImportPath && !mayImportDemo(relPath(modPath, path)) {
				continue // not the module's, or checked on its own
			}
			for _, imp := range imports[path] {
				if _, ok := from[imp]; !ok {
					from[imp] = path
					queue = append(queue, imp)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package outside cmd/ and " + demoDir + "/ was checked")
	}
}

// relPath is the import path of a package of the module relative to the module root.
func relPath(modPath, importPath string) string {
	return strings.TrimPrefix(strings.TrimPrefix(importPath, modPath), "/")
}

type listedPackage struct {
	ImportPath string
	Imports    []string // non-test imports only
	Module     *struct{ Path string }
}

// listModule lists every package of the module (go list -json ./... from its root), and
// returns the module path with them.
func listModule(t *testing.T) (string, []listedPackage) {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts $GOROOT/bin first in PATH
	if err != nil {
		t.Fatalf("the go command is needed to read the import graph: %v", err)
	}
	gomod := strings.TrimSpace(string(run(t, exec.Command(goBin, "env", "GOMOD"))))
	if gomod == "" || gomod == "/dev/null" || gomod == "NUL" {
		t.Fatalf("go env GOMOD = %q: not inside the module", gomod)
	}
	list := exec.Command(goBin, "list", "-json=ImportPath,Imports,Module", "./...")
	list.Dir = filepath.Dir(gomod)
	dec := json.NewDecoder(bytes.NewReader(run(t, list)))
	var modPath string
	var pkgs []listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Module == nil {
			t.Fatalf("go list: package %s has no module", p.ImportPath)
		}
		if modPath == "" {
			modPath = p.Module.Path
		} else if p.Module.Path != modPath {
			t.Fatalf("go list ./... in %s listed packages of two modules, %s and %s", list.Dir, modPath, p.Module.Path)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list ./... in %s listed no packages", list.Dir)
	}
	return modPath, pkgs
}

func run(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, ee.Stderr)
		}
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return out
}
