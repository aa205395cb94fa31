package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// flexSetupSettings are serve's flags that `hearro flex setup` shares: the same declaration
// (name, default, help, environment twin), so the two cannot drift.
var flexSetupSettings = []string{
	"dev", "flex-mode", "twilio-api-url", "twilio-account-sid", "twilio-auth-token", "twilio-api-key",
	"twilio-api-secret", "twilio-address-sid",
}

func newFlexCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "flex",
		Short: "Configure the Twilio Flex account the service opens chats in",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newFlexSetupCmd())
	return cmd
}

func newFlexSetupCmd() *cobra.Command {
	var cfg serveConfig
	var workflowSID, taskChannel, workspaceSID string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Install the verified web chat's Studio flow and point the web chat address at it",
		Long: `Create (or update) the Studio flow "` + flex.StudioFlowName + `" — its Send to Flex widget puts
the customer's name and verification summary into the agent's task — and set the web chat
address's auto-creation to it. Only what differs is written: a second run says "nothing to change".
In development without a Twilio account it sets up the emulator at --twilio-api-url.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, err := flexSetupConfig(cfg, workflowSID, taskChannel, workspaceSID)
			if err != nil {
				return err
			}
			sc.DryRun = dryRun
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			report, err := flex.Setup(ctx, sc)
			for _, line := range report.Changes {
				fmt.Fprintln(cmd.OutOrStdout(), line)
			}
			if err != nil {
				return err
			}
			if len(report.Changes) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), report.String())
			}
			return nil
		},
	}
	all := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveFlags(all, &cfg)
	for _, name := range flexSetupSettings {
		cmd.Flags().AddFlag(all.Lookup(name))
	}
	f := cmd.Flags()
	f.StringVar(&workflowSID, "workflow-sid", "", "TaskRouter workflow (WW…) the Studio flow sends chats to (TaskRouter > Workspaces > Flex Task Assignment > Workflows); required with a Twilio account, the emulator's by default")
	f.StringVar(&taskChannel, "task-channel", "chat", "TaskRouter task channel of the chats: its SID (TC…), or its unique name, looked up in --workspace-sid")
	f.StringVar(&workspaceSID, "workspace-sid", "", "TaskRouter workspace (WS…) of the workflow, to check it and look up --task-channel by name; the emulator's by default")
	f.BoolVar(&dryRun, "dry-run", false, "say what would change, change nothing")
	withEnv(cmd, "HEARRO_")
	return cmd
}

// flexSetupConfig turns the settings into what flex.Setup needs. Where chats go (Twilio, or an
// emulator with its development account) is chooseTwilio's decision, as for serve.
func flexSetupConfig(cfg serveConfig, workflowSID, taskChannel, workspaceSID string) (flex.SetupConfig, error) {
	mode, err := flex.ParseMode(cfg.FlexMode)
	if err != nil {
		return flex.SetupConfig{}, fmt.Errorf("--flex-mode: %w", err)
	}
	if mode != flex.ModeConversations {
		return flex.SetupConfig{}, errors.New("--flex-mode flexflow: legacy Flex Flows do not use a web chat address's Studio flow; there is nothing to set up")
	}
	t := chooseTwilio(settings{serveConfig: cfg, flexMode: mode}, "", "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if t.builtIn != nil {
		return flex.SetupConfig{}, errors.New("development mode without a Twilio account: give --twilio-api-url of the emulator to set up (a development `hearro serve` serves its own at http://localhost:8080/_twilio, `hearro emulator` at http://localhost:8081/_twilio), or the --twilio-* settings of your account")
	}
	if t.shared {
		dev := emulator.DevConfig()
		if workflowSID == "" {
			workflowSID = dev.WorkflowSID
		}
		if workspaceSID == "" {
			workspaceSID = dev.WorkspaceSID
		}
	}
	if workflowSID == "" {
		return flex.SetupConfig{}, errors.New("--workflow-sid is required: the TaskRouter workflow of Flex tasks (WW…)")
	}
	return flex.SetupConfig{Config: t.client, WorkflowSID: workflowSID, TaskChannel: taskChannel, WorkspaceSID: workspaceSID}, nil
}
