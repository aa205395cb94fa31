package didcomm_test

import (
	"context"
	"testing"
	"time"

	"github.com/hyperledger/aries-framework-go/component/storageutil/mem"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/wallet"
)

func TestFlowWithDemoWallet(t *testing.T) {
	agent, base := startVerifier(t)
	h := newVerifierHandler(t, agent, base)
	loader, _ := identity.NewContextLoader()

	w, err := wallet.Open(wallet.Config{Storage: mem.NewProvider(), SecretLock: masterLock(t), Loader: loader})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cred, _, err := w.EnsureCredential(nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name       string
		selfIssued bool
		want       string
	}{
		{"verified", false, "verified"},
		{"verified again on a new connection", false, "verified"},
		{"self-issued/untrusted_issuer", true, "untrusted_issuer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cred
			if tc.selfIssued {
				if c, err = w.SelfIssued(nil); err != nil {
					t.Fatal(err)
				}
			}
			inv, err := agent.CreateInvitation(context.Background(), "test")
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				t.Logf("invitation: %s", inv.JSON)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			start := time.Now()
			out, err := w.Accept(ctx, inv.JSON, c, func(s wallet.Step) { t.Logf("%8s %s: %s", s.Elapsed.Round(time.Millisecond), s.Name, s.Message) })
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("outcome %+v in %s", out, time.Since(start))
			if got := <-h.outcomes; got != tc.want {
				t.Fatalf("verifier outcome %q, want %q", got, tc.want)
			}
			wantWallet := "acknowledged"
			if tc.want != "verified" {
				wantWallet = "rejected"
				if out.Reason != tc.want {
					t.Errorf("wallet saw reason %q, want %q", out.Reason, tc.want)
				}
			}
			if out.Status != wantWallet {
				t.Errorf("wallet status %q, want %q", out.Status, wantWallet)
			}
		})
	}
}
