package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearro/trustbroker/identity/issuer"
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
	var subject, claims, proofType string
	var validFor time.Duration
	issue := &cobra.Command{
		Use:   "issue",
		Short: "Issue a VerifiedCustomer credential (JSON-LD, Data Integrity proof) and print it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := issuer.ParseClaims(claims)
			if err != nil {
				return fmt.Errorf("--claims: %w", err)
			}
			vc, err := issuer.Development().Issue(subject, c, issuer.Options{ValidFor: validFor, ProofType: proofType})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", vc)
			return err
		},
	}
	f := issue.Flags()
	f.StringVar(&subject, "subject", "", "the holder's DID (required)")
	f.StringVar(&claims, "claims", "givenName=Ada,familyName=Lovelace,memberId=12345", "claims as name=value,…")
	f.StringVar(&proofType, "proof-type", "Ed25519Signature2020", "Ed25519Signature2020 or Ed25519Signature2018")
	f.DurationVar(&validFor, "valid-for", 365*24*time.Hour, "validity period")
	_ = issue.MarkFlagRequired("subject")
	withEnv(issue, "HEARRO_ISSUER_")
	cmd.AddCommand(issue)
	return cmd
}
