package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

func newEmulatorCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "Run the Twilio API emulator on its own, for several replicas in development",
		Long: `Run the Twilio API emulator (Twilio's paths under /_twilio/{host}/…, its development account)
on its own listener, so that several development replicas share one: start them with
--twilio-api-url http://<this address>/_twilio.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			srv := &http.Server{Handler: emulator.New(devEmulatorConfig()), ReadHeaderTimeout: 10 * time.Second}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			go func() {
				<-ctx.Done()
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = srv.Shutdown(sctx)
			}()
			cmd.PrintErrf("Twilio API emulator on http://%s/_twilio/ (development account, public credentials)\n", ln.Addr())
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "addr", ":8081", "listen address")
	withEnv(cmd, "HEARRO_EMULATOR_")
	return cmd
}

// devEmulatorConfig is the emulator's development account as `hearro flex setup` leaves it: its
// web chat address runs the Studio flow this product ships, so a customer's first message gives
// the agent a task with their name and verification summary, as at a set-up Twilio account.
func devEmulatorConfig() emulator.Config {
	dev := emulator.DevConfig()
	def, err := flex.StudioFlow(dev.WorkflowSID, dev.TaskChannelSID)
	if err != nil {
		panic("the shipped Studio flow does not take the emulator's SIDs: " + err.Error()) // tested
	}
	dev.StudioFlowName, dev.StudioFlowDefinition = flex.StudioFlowName, string(def)
	return dev
}
