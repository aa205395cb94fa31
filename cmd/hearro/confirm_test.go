package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/identity/confirm"
)

// invitationCode returns the confirmation code in a created session's invitation goal.
func invitationCode(t *testing.T, c createdSession) string {
	t.Helper()
	var inv struct {
		Goal string `json:"goal"`
	}
	if err := json.Unmarshal(c.Invitation, &inv); err != nil {
		t.Fatalf("invitation: %v", err)
	}
	code, _ := confirm.Find(inv.Goal)
	return code
}

// The normal flow: the code the page shows is the one in the invitation's goal and in the
// presentation request's comment (a wallet expecting it presents), and sessions get
// different codes.
func TestEndToEndConfirmationCode(t *testing.T) {
	s := startTestService(t)
	c := s.createSession(t)
	if !confirm.Valid(c.ConfirmationCode) {
		t.Fatalf("created session's confirmation_code %q is not a code", c.ConfirmationCode)
	}
	if got := invitationCode(t, c); got != c.ConfirmationCode {
		t.Fatalf("invitation goal carries %q, the page shows %q", got, c.ConfirmationCode)
	}
	if st := s.session(t, c); st.ConfirmationCode != c.ConfirmationCode {
		t.Fatalf("GET session shows %q, POST showed %q", st.ConfirmationCode, c.ConfirmationCode)
	}
	sum, progress, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) {
		w.ExpectCode = strings.ToLower(c.ConfirmationCode) // as a person might type it
	})
	t.Logf("wallet progress:\n%s", progress)
	if err != nil {
		t.Fatalf("wallet expecting the page's code: %v", err)
	}
	if sum.Status != "acknowledged" || sum.ConfirmationCode != c.ConfirmationCode ||
		!strings.Contains(progress, "Check that your screen shows "+c.ConfirmationCode) {
		t.Fatalf("wallet summary %+v; want acknowledged, having shown %s", sum.Outcome, c.ConfirmationCode)
	}
	if st := s.waitStatus(t, c, "bound"); st.ConfirmationCode != c.ConfirmationCode {
		t.Errorf("bound session shows code %q, want %q", st.ConfirmationCode, c.ConfirmationCode)
	}

	// 30 codes out of 2^20: all distinct with probability ≈ 99.96 %; one repeat is allowed,
	// so a false failure needs two (≈ 10^-7).
	seen, dups := map[string]bool{c.ConfirmationCode: true}, 0
	for range 29 {
		code := s.createSession(t).ConfirmationCode
		if seen[code] {
			dups++
		}
		seen[code] = true
	}
	if dups > 1 {
		t.Errorf("%d repeated codes among 30 sessions", dups)
	}

	t.Run("a malformed --expect-code is refused before anything is sent", func(t *testing.T) {
		c := s.createSession(t)
		_, _, err := runWallet(t, t.TempDir(), c.InvitationURL, func(w *walletConfig) { w.ExpectCode = "K0QF" })
		if !errors.Is(err, confirm.ErrInvalid) {
			t.Fatalf("wallet with --expect-code K0QF: %v, want confirm.ErrInvalid", err)
		}
		if st := s.session(t, c); st.Status != "invited" {
			t.Fatalf("session is %s, want still invited", st.Status)
		}
	})
}

// Cross-device phishing: an attacker starts a session and shows the victim its QR code. The
// victim's own page shows code A; their wallet, told A, is handed the attacker's invitation
// (code B). It presents nothing and declines with confirmation_mismatch; the attacker's
// session is rejected with that reason, never verified or bound, and no identity or chat
// exists for the victim. The victim's own session still works.
func TestEndToEndCrossDevicePhishingIsRefused(t *testing.T) {
	s := startTestService(t)
	victim := s.createSession(t)
	attacker := s.createSession(t)
	for attacker.ConfirmationCode == victim.ConfirmationCode { // 1 in 2^20
		attacker = s.createSession(t)
	}
	events, stopEvents := watch(t, attacker)
	defer stopEvents()

	walletDir := t.TempDir()
	sum, progress, err := runWallet(t, walletDir, attacker.InvitationURL, func(w *walletConfig) {
		w.ExpectCode = victim.ConfirmationCode
	})
	t.Logf("wallet progress:\n%s", progress)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "confirmation_mismatch") {
		t.Fatalf("wallet error %v, want exit status 3 with confirmation_mismatch", err)
	}
	if sum.Outcome == nil || sum.Status != "declined" || sum.Reason != "confirmation_mismatch" || sum.ConfirmationCode != attacker.ConfirmationCode {
		t.Fatalf("wallet summary %+v, want declined (confirmation_mismatch) having seen %s", sum.Outcome, attacker.ConfirmationCode)
	}
	if strings.Contains(progress, "presentation sent") {
		t.Fatal("the wallet presented its credential to the attacker's session")
	}

	st := s.waitStatus(t, attacker, "rejected", "verified", "bound")
	if st.Status != "rejected" || st.Reason != "confirmation_mismatch" || st.IdentityID != "" || st.Chat != nil {
		t.Fatalf("attacker's session: %+v, want rejected (confirmation_mismatch) with no identity or chat", st)
	}
	time.Sleep(50 * time.Millisecond) // let any (wrong) background bind run
	if n := len(s.emulator.Requests()); n != 0 {
		t.Errorf("%d requests reached Twilio for the refused session", n)
	}
	if _, err := s.backend.store.IdentityByFlex(context.Background(), broker.Pseudonym(mustSecret(t, s), sum.HolderDID)); !errors.Is(err, broker.ErrNotFound) {
		t.Errorf("an identity was stored for the victim: %v", err)
	}
	var statuses []string
	for _, ev := range events() {
		statuses = append(statuses, string(ev.Status))
	}
	if got := strings.Join(statuses, ","); got != "invited,connected,requested,rejected" {
		t.Errorf("attacker's SSE statuses %s", got)
	}

	// The same wallet, on the victim's own session, presents.
	if st := s.session(t, victim); st.Status != "invited" {
		t.Fatalf("victim's session is %s, want invited", st.Status)
	}
	sum, progress, err = runWallet(t, walletDir, victim.InvitationURL, func(w *walletConfig) {
		w.ExpectCode = victim.ConfirmationCode
	})
	if err != nil || sum.Status != "acknowledged" {
		t.Fatalf("wallet on the victim's own session: %v, %+v\n%s", err, sum.Outcome, progress)
	}
	s.waitStatus(t, victim, "bound")
}
