package broker_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTheDomainDependsOnNoAdapter: broker speaks its own language. Neither aries-framework-go
// nor twilio-go, nor this service's packages wrapping them (identity, flex, api), may be among
// its dependencies; broker/wallets and broker/chats translate.
func TestTheDomainDependsOnNoAdapter(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{
		"github.com/hyperledger/aries-framework-go",
		"github.com/twilio/twilio-go",
		"github.com/hearro/trustbroker/identity/didcomm",
		"github.com/hearro/trustbroker/flex",
		"github.com/hearro/trustbroker/api",
	}
	deps := strings.Fields(string(out))
	var bad []string
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f+"/") {
				bad = append(bad, d)
			}
		}
		if d == "github.com/hearro/trustbroker/identity" {
			bad = append(bad, d)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("broker depends on %d adapter packages, e.g. %s", len(bad), strings.Join(bad[:min(len(bad), 5)], ", "))
	}
	if len(deps) < 10 {
		t.Fatalf("go list named %d packages: %q", len(deps), deps)
	}
}
