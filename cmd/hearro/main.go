// Command hearro is the HearRo Trust Broker: `hearro serve` runs the service; `hearro wallet`
// and `hearro issuer` are the demo holder wallet and the development issuer that let the whole
// flow run on one machine.
//
// Configuration is read and validated here only; the packages below never read the
// environment.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit status (the wallet uses 2 for "the verifier rejected").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	root := &cobra.Command{
		Use:           "hearro",
		Short:         "HearRo Trust Broker: verified customers, straight into a Flex chat",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newWalletCmd(), newIssuerCmd(), newTokenCmd(), newOAuthCmd(), newEmulatorCmd(), newFlexCmd(), newHealthcheckCmd())
	if err := root.ExecuteContext(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "hearro:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}
