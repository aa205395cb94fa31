package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

func newIssuerCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "issuer",
		Short: "The development issuer (its key is public: development only)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "did",
		Short: "Print the development issuer's DID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), issuer.DevelopmentDID())
			return err
		},
	})
	var subject, claims, proofType, format string
	var validFor time.Duration
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Issue a VerifiedCustomer credential in any format the verifier accepts, and print it",
		Long: `Issue a VerifiedCustomer credential signed by the development issuer and print it:
a JSON-LD credential (ldp: Data Integrity proof, --proof-type; bbs: BbsBlsSignature2020, from
which the holder derives selective disclosures), or a compact VC-JWT (jwt) or SD-JWT VC with
every claim disclosable (sd-jwt: bound to the subject's key, so --subject must be a did:key,
did:jwk or did:peer DID).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := issuer.ParseClaims(claims)
			if err != nil {
				return fmt.Errorf("--claims: %w", err)
			}
			out, err := issueAs(cmd.Context(), identity.Format(format), subject, c, issuer.Options{ValidFor: validFor, ProofType: proofType})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", out)
			return err
		},
	}
	f := issue.Flags()
	f.StringVar(&subject, "subject", "", "the holder's DID (required)")
	f.StringVar(&claims, "claims", "givenName=Ada,familyName=Lovelace,memberId=12345", "claims as name=value,…")
	f.StringVar(&format, "format", string(identity.FormatLDP), "credential format: ldp (JSON-LD, Data Integrity proof), jwt (VC-JWT), bbs (JSON-LD, BBS+), sd-jwt (SD-JWT VC)")
	f.StringVar(&proofType, "proof-type", "Ed25519Signature2020", "with --format ldp: Ed25519Signature2020, Ed25519Signature2018 or JsonWebSignature2020")
	f.DurationVar(&validFor, "valid-for", 365*24*time.Hour, "validity period")
	_ = issue.MarkFlagRequired("subject")
	withEnv(issue, "HEARRO_ISSUER_")
	cmd.AddCommand(issue)
	return cmd
}

// issueAs issues a development credential for subject in format.
func issueAs(ctx context.Context, format identity.Format, subject string, claims map[string]string, opt issuer.Options) ([]byte, error) {
	iss := issuer.Development()
	switch format {
	case identity.FormatLDP:
		return iss.Issue(subject, claims, opt)
	case identity.FormatBBS:
		return iss.IssueBBS(subject, claims, opt)
	case identity.FormatJWT:
		s, err := iss.IssueJWT(subject, claims, opt)
		return []byte(s), err
	case identity.FormatSDJWT:
		key, err := holderKey(ctx, subject)
		if err != nil {
			return nil, fmt.Errorf("--format sd-jwt binds the credential to the subject's key: %w", err)
		}
		s, err := iss.IssueSDJWT(subject, key, claims, opt)
		return []byte(s), err
	}
	return nil, fmt.Errorf("--format %q: want one of %v", format, identity.Formats)
}

// holderKey returns the public key a subject DID authenticates with, for the DID methods whose
// documents come from the DID itself.
func holderKey(ctx context.Context, did string) (crypto.PublicKey, error) {
	doc, err := identity.OfflineMethods().Resolve(ctx, did)
	if err != nil {
		return nil, err
	}
	for _, m := range doc.Methods {
		if !m.Authentication {
			continue
		}
		switch m.KeyCurve() {
		case identity.CurveEd25519:
			return ed25519.PublicKey(m.PublicKey), nil
		case identity.CurveP256:
			return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), m.PublicKey)
		}
	}
	return nil, fmt.Errorf("%s has no Ed25519 or P-256 authentication key", did)
}
