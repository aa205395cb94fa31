package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearro/trustbroker/broker/boltstore"
	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/confirm"
	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/internal/demo/issuer"
	"github.com/hearro/trustbroker/internal/demo/wallet"
)

type walletConfig struct {
	Dir        string
	Format     string
	Claims     string
	SelfIssued bool
	JSON       bool
	Timeout    time.Duration
	Listen     string
	Endpoint   string
	Label      string
	ExpectCode string
}

func newWalletCmd() *cobra.Command {
	w := &cobra.Command{
		Use:   "wallet",
		Short: "The demo holder wallet (plays the customer's phone)",
	}
	var cfg walletConfig
	accept := &cobra.Command{
		Use:   "accept <invitation_url>",
		Short: "Accept an invitation: connect, present the VerifiedCustomer credential, wait for the verifier's answer",
		Long: `Accept an out-of-band invitation (a short link such as http://localhost:8080/i/<id>, an
RFC 0434 URL with ?oob=…, a didcomm:// link, or the invitation JSON): obtain a VerifiedCustomer
credential from the development issuer on first use, connect with DID Exchange, answer the
present-proof request, and wait for the verifier.

The wallet prints the confirmation code the invitation carries ("Check that your screen
shows K7QF"). With --expect-code, the code the customer's own screen shows, it presents
nothing unless the invitation and the request carry that code: it declines the request with
the reason confirmation_mismatch (the invitation was made for somebody else's screen).

Exit status: 0 when the verifier acknowledged the presentation, 2 when it rejected it (the
reason is printed), 3 when the wallet declined because the code differs, 1 on any other
failure.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWalletAccept(cmd.Context(), cfg, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := accept.Flags()
	f.StringVar(&cfg.Dir, "wallet-dir", "./wallet", "directory of the wallet's keys, connections and credential")
	f.StringVar(&cfg.Claims, "claims", "", `credential claims, e.g. "givenName=Ada,familyName=Lovelace,memberId=12345" (default: those of the stored credential, or that example)`)
	f.StringVar(&cfg.Format, "format", "ldp", "credential format to present: ldp (JSON-LD, Ed25519Signature2020), jwt (VC-JWT in a VP-JWT), bbs (BBS+ selective disclosure), sd-jwt (SD-JWT VC with key binding)")
	f.BoolVar(&cfg.SelfIssued, "self-issued", false, "present a credential signed by a key nobody trusts (the verifier must reject it)")
	f.BoolVar(&cfg.JSON, "json", false, "print a final JSON summary on stdout")
	f.DurationVar(&cfg.Timeout, "timeout", 60*time.Second, "how long to wait for the verifier")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:0", "address the wallet receives DIDComm messages on")
	f.StringVar(&cfg.Endpoint, "endpoint", "", "URL the service reaches the wallet at (default http://<listen address>)")
	f.StringVar(&cfg.Label, "label", "HearRo demo wallet", "name the service sees for this wallet")
	f.StringVar(&cfg.ExpectCode, "expect-code", "", "the confirmation code your screen shows (e.g. K7QF); present only if the invitation and request carry it")
	withEnv(accept, "HEARRO_WALLET_")
	w.AddCommand(accept)
	return w
}

type walletSummary struct {
	*wallet.Outcome
	CredentialObtained bool     `json:"credential_obtained"`
	SelfIssued         bool     `json:"self_issued"`
	Claims             []string `json:"claim_names"`
	ElapsedMS          float64  `json:"elapsed_ms"`
}

func runWalletAccept(ctx context.Context, cfg walletConfig, ref string, stdout, stderr io.Writer) error {
	var claims map[string]string
	if cfg.Claims != "" {
		var err error
		if claims, err = issuer.ParseClaims(cfg.Claims); err != nil {
			return fmt.Errorf("--claims: %w", err)
		}
	}
	var expect string
	if cfg.ExpectCode != "" {
		var err error
		if expect, err = confirm.Parse(cfg.ExpectCode); err != nil {
			return fmt.Errorf("--expect-code %q: %w", cfg.ExpectCode, err)
		}
	}
	format := identity.Format(cfg.Format)
	if !slices.Contains(identity.Formats, format) {
		return fmt.Errorf("--format %q: want one of %v", cfg.Format, identity.Formats)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	say := func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }

	client := &http.Client{Timeout: 10 * time.Second}
	invitation, err := wallet.ResolveInvitation(ctx, client, ref)
	if err != nil {
		return err
	}

	db, err := boltstore.Open(filepath.Join(cfg.Dir, "wallet.db"), boltstore.Options{})
	if err != nil {
		return fmt.Errorf("open wallet in %s: %w", cfg.Dir, err)
	}
	defer db.Close()
	lock, _, err := masterLock(nil, cfg.Dir)
	if err != nil {
		return err
	}
	loader, err := identity.NewContextLoader()
	if err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	didcomm.RouteFrameworkLogs(quiet)
	w, err := wallet.Open(wallet.Config{
		Storage: db.AgentStorage(), SecretLock: lock, Loader: loader, Listen: cfg.Listen,
		Endpoint: cfg.Endpoint, HTTPClient: client, Label: cfg.Label, Logger: quiet, Format: format,
	})
	if err != nil {
		return err
	}
	defer w.Close()
	say("wallet %s (holder %s)", cfg.Dir, w.HolderDID())

	cred, obtained, err := w.EnsureCredential(claims)
	if err != nil {
		return err
	}
	if obtained {
		say("✓ obtained a VerifiedCustomer credential from the development issuer %s (claims: %s)", cred.Issuer, claimNames(cred.Claims))
	}
	if cfg.SelfIssued {
		if cred, err = w.SelfIssued(cred.Claims); err != nil {
			return err
		}
		say("! presenting a SELF-ISSUED credential signed by %s, which nobody trusts", cred.Issuer)
	}

	icon := map[string]string{"invitation": "→", "confirm": "!", "connected": "✓", "requested": "←", "presented": "→", "acknowledged": "✓", "rejected": "✗", "declined": "✗"}
	out, err := w.AcceptExpecting(ctx, invitation, cred, expect, func(s wallet.Step) {
		say("%s %s  (%d ms)", icon[s.Name], s.Message, s.Elapsed.Milliseconds())
	})
	if errors.Is(err, wallet.ErrConfirmationMismatch) && out != nil {
		if cfg.JSON {
			if jerr := writeWalletSummary(stdout, out, obtained, cfg.SelfIssued, cred); jerr != nil {
				return jerr
			}
		}
		return &exitError{code: 3, err: err}
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer from the verifier within %s", cfg.Timeout)
		}
		return err
	}
	if cfg.JSON {
		if err := writeWalletSummary(stdout, out, obtained, cfg.SelfIssued, cred); err != nil {
			return err
		}
	}
	if out.Status != "acknowledged" {
		return &exitError{code: 2, err: fmt.Errorf("the verifier rejected the presentation: %s", out.Reason)}
	}
	return nil
}

func writeWalletSummary(stdout io.Writer, out *wallet.Outcome, obtained, selfIssued bool, cred wallet.Credential) error {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(walletSummary{Outcome: out, CredentialObtained: obtained, SelfIssued: selfIssued,
		Claims: strings.Split(claimNames(cred.Claims), ", "), ElapsedMS: float64(out.Elapsed.Microseconds()) / 1000})
}

func claimNames(claims map[string]string) string {
	names := make([]string, 0, len(claims))
	for n := range claims {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
