package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envName is the environment twin of a flag: the prefix (HEARRO_ for serve, HEARRO_WALLET_
// for the wallet, …) and the flag name in upper snake case, without repeating the prefix's
// word (--wallet-dir of the wallet is HEARRO_WALLET_DIR).
func envName(prefix, flag string) string {
	name := strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
	if word := strings.TrimPrefix(prefix, "HEARRO_"); word != "" {
		name = strings.TrimPrefix(name, word)
	}
	return prefix + name
}

// envAliases are further environment names some flags also read, after their HEARRO_ twin:
// Twilio's own conventional variables, so an environment set up for Twilio's tools works.
var envAliases = map[string][]string{
	"twilio-account-sid": {"TWILIO_ACCOUNT_SID"},
	"twilio-auth-token":  {"TWILIO_AUTH_TOKEN"},
	"twilio-api-key":     {"TWILIO_API_KEY"},
	"twilio-api-secret":  {"TWILIO_API_SECRET"},
}

// withEnv gives each flag of cmd its environment twin and documents it in the help text. Call
// it once per command after declaring the flags: the declaration is the single source of name,
// default and help.
func withEnv(cmd *cobra.Command, prefix string) {
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" {
			return
		}
		names := append([]string{envName(prefix, f.Name)}, envAliases[f.Name]...)
		f.Usage = fmt.Sprintf("%s (env %s)", f.Usage, strings.Join(names, " or "))
	})
	prev := cmd.PreRunE
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if err := applyEnv(cmd.Flags(), prefix, os.LookupEnv); err != nil {
			return err
		}
		if prev != nil {
			return prev(cmd, args)
		}
		return nil
	}
}

// applyEnv sets every flag not given on the command line from its environment twin.
func applyEnv(fs *pflag.FlagSet, prefix string, lookup func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" {
			return
		}
		for _, name := range append([]string{envName(prefix, f.Name)}, envAliases[f.Name]...) {
			v, ok := lookup(name)
			if !ok {
				continue
			}
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment variable %s: %w", name, e)
			}
			return
		}
	})
	return err
}
