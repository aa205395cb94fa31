package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const pinnedRevReg = "WgWxqztrNooG92RXvxSTWv:4:WgWxqztrNooG92RXvxSTWv:3:CL:20:revocable:CL_ACCUM:0"

func TestPinnedLoads(t *testing.T) {
	for _, file := range []string{"testdata/pinned/objects.yaml", "testdata/pinned/objects.json"} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			p, err := LoadPinned(file)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			s, err := p.Schema(ctx, sovSchemaID)
			if err != nil || s.Name != "r-test6" || s.ID != sovSchemaID || s.IssuerID != "WpoQirzsNJK2MUZh3NtbF2" {
				t.Fatalf("schema %+v, %v", s, err)
			}
			d, err := p.CredentialDefinition(ctx, sovCredDefID)
			if err != nil || d.ID != sovCredDefID || d.Value.Primary.N == nil {
				t.Fatalf("credential definition %+v, %v", d, err)
			}
			if _, err := p.Schema(ctx, nym+":2:other:1.0"); !errors.Is(err, ErrNotFound) {
				t.Errorf("unpinned schema: %v", err)
			}
		})
	}
}

func TestPinnedStatusLists(t *testing.T) {
	p, err := LoadPinned("testdata/pinned/objects.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for at, want := range map[int64]int64{0: 1733300400, 1733300300: 1733300300, 1733300399: 1733300300, 1733309999: 1733300400} {
		l, err := p.RevocationStatusList(ctx, pinnedRevReg, at)
		if err != nil || l.Timestamp != want {
			t.Errorf("at %d: %+v, %v; want the list of %d", at, l, err, want)
		}
	}
	if _, err := p.RevocationStatusList(ctx, pinnedRevReg, 1733300000); !errors.Is(err, ErrNotFound) {
		t.Errorf("before the first list: %v", err)
	}
	d, err := p.RevocationRegistryDefinition(ctx, pinnedRevReg)
	if err != nil || d.Value.MaxCredNum != 4 {
		t.Errorf("definition %+v, %v", d, err)
	}
}

// A bad pinned file is refused at load, naming the entry.
func TestPinnedRefuses(t *testing.T) {
	schema := `{"name":"hearro-id","version":"1.0","attrNames":["given_name","birthdate"]}`
	tests := []struct{ name, file, want string }{
		{"unknown section", `{"schemaz":{}}`, "unknown field"},
		{"malformed id", `{"schemas":{"not-an-id":` + schema + `}}`, "not-an-id"},
		{"id of another kind", `{"schemas":{"` + nym + `:3:CL:20:tag":` + schema + `}}`, nym + ":3:CL:20:tag"},
		{"id inside differs", `{"schemas":{"` + nym + `:2:hearro-id:1.0":{"id":"` + nym + `:2:hearro-id:2.0","name":"hearro-id","version":"1.0","attrNames":["a"]}}}`, nym + ":2:hearro-id:1.0"},
		{"name differs from id", `{"schemas":{"` + nym + `:2:other:1.0":` + schema + `}}`, nym + ":2:other:1.0"},
		{"issuer differs", `{"schemas":{"` + nym + `:2:hearro-id:1.0":{"issuerId":"did:sov:WpoQirzsNJK2MUZh3NtbF2","name":"hearro-id","version":"1.0","attrNames":["a"]}}}`, "issuer"},
		{"bad schema", `{"schemas":{"` + nym + `:2:hearro-id:1.0":{"name":"hearro-id","version":"1.0","attrNames":[]}}}`, nym + ":2:hearro-id:1.0"},
		{"bad cred def", `{"credentialDefinitions":{"` + nym + `:3:CL:20:tag":{"type":"CL","value":{"primary":{"n":"1"}}}}}`, nym + ":3:CL:20:tag"},
		{"status list not 0/1", `{"revocationStatusLists":{"` + pinnedRevReg + `":[{"revocationList":[0,2],"currentAccumulator":"21 1","timestamp":1}]}}`, pinnedRevReg},
		{"bad YAML", "schemas: [unclosed", "YAML"},
		{"deep", `{"schemas":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + "}", "nested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePinned([]byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if _, err := LoadPinned(filepath.Join(t.TempDir(), "absent.yaml")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%v", err)
		}
	})
}
