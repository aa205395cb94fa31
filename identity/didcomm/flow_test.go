package didcomm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity/confirm"
	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/internal/demo/wallet"
)

func TestFlowWithDemoWallet(t *testing.T) {
	agent, base := startVerifier(t)
	h := newVerifierHandler(t, agent, base)
	w, cred := demoWallet(t, nil)
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
				var err error
				if c, err = w.SelfIssued(nil); err != nil {
					t.Fatal(err)
				}
			}
			inv, err := agent.CreateInvitation(context.Background(), "test", "")
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

// Cross-device phishing, as the wallet sees it: the customer's own screen shows one code; the
// invitation they were shown (somebody else's session) carries another. A wallet told which
// code to expect presents nothing and declines with confirmation_mismatch; with the right code
// in both the invitation's goal and the request's comment, it presents.
func TestConfirmationCodeInWallet(t *testing.T) {
	agent, base := startVerifier(t)
	h := newVerifierHandler(t, agent, base)
	w, cred := demoWallet(t, nil)
	for _, tc := range []struct {
		name                     string
		invCode, reqCode, expect string
		wantWallet, wantVerifier string
	}{
		{"same code everywhere: presented", "K7QF", "K7QF", "K7QF", "acknowledged", "verified"},
		{"no code expected: presented", "K7QF", "K7QF", "", "acknowledged", "verified"},
		{"attacker's invitation: declined", "B4RT", "B4RT", "K7QF", "declined", "problem:confirmation_mismatch"},
		{"request's code differs from the invitation's: declined", "K7QF", "B4RT", "K7QF", "declined", "problem:confirmation_mismatch"},
		{"no code in the invitation: declined", "", "", "K7QF", "declined", "problem:confirmation_mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.mu.Lock()
			h.code = tc.reqCode
			h.mu.Unlock()
			inv, err := agent.CreateInvitation(context.Background(), "Prove who you are", tc.invCode)
			if err != nil {
				t.Fatal(err)
			}
			var goal struct {
				Goal     string `json:"goal"`
				GoalCode string `json:"goal_code"`
			}
			if err := json.Unmarshal(inv.JSON, &goal); err != nil {
				t.Fatal(err)
			}
			if got, _ := confirm.Find(goal.Goal); got != tc.invCode || !strings.HasPrefix(goal.Goal, "Prove who you are") || goal.GoalCode != didcomm.GoalCodeVerifyIdentity {
				t.Fatalf("invitation goal %q (code %q), goal_code %q; want the goal with code %q", goal.Goal, got, goal.GoalCode, tc.invCode)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var presented bool
			out, err := w.AcceptExpecting(ctx, inv.JSON, cred, tc.expect, func(s wallet.Step) {
				presented = presented || s.Name == "presented"
				t.Logf("%s: %s", s.Name, s.Message)
			})
			if tc.wantWallet == "declined" {
				var me *wallet.MismatchError
				if !errors.As(err, &me) || !errors.Is(err, wallet.ErrConfirmationMismatch) || me.Expected != tc.expect {
					t.Fatalf("AcceptExpecting = %v, want a *wallet.MismatchError expecting %s", err, tc.expect)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.wantWallet || out.ConfirmationCode != tc.invCode {
				t.Errorf("wallet outcome %+v, want %s with the invitation's code %q", out, tc.wantWallet, tc.invCode)
			}
			if tc.wantWallet == "declined" && (presented || out.Reason != "confirmation_mismatch") {
				t.Errorf("declined with reason %q, presented %v; want confirmation_mismatch and nothing presented", out.Reason, presented)
			}
			select {
			case got := <-h.outcomes:
				if got != tc.wantVerifier {
					t.Fatalf("verifier outcome %q, want %q", got, tc.wantVerifier)
				}
			case <-ctx.Done():
				t.Fatalf("verifier saw nothing, want %q", tc.wantVerifier)
			}
		})
	}
	t.Run("malformed codes are refused", func(t *testing.T) {
		if _, err := agent.CreateInvitation(context.Background(), "goal", "K0QF"); !errors.Is(err, confirm.ErrInvalid) {
			t.Errorf("CreateInvitation with code K0QF = %v, want confirm.ErrInvalid", err)
		}
		if _, err := agent.RequestPresentation(context.Background(), "any", "", didcomm.PresentationRequest{ConfirmationCode: "toolong"}); !errors.Is(err, confirm.ErrInvalid) {
			t.Errorf("RequestPresentation with code toolong = %v, want confirm.ErrInvalid", err)
		}
		if _, err := w.AcceptExpecting(context.Background(), []byte(`{}`), cred, "KIQF", nil); !errors.Is(err, confirm.ErrInvalid) {
			t.Errorf("AcceptExpecting expecting KIQF = %v, want confirm.ErrInvalid", err)
		}
	})
}
