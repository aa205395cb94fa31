package main

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/hearro/trustbroker/flex/emulator"
)

// serveEmulator serves an emulator of cfg's account, as `hearro emulator` does, and returns its
// API root for --twilio-api-url.
func serveEmulator(t *testing.T, cfg emulator.Config) (*emulator.Emulator, string) {
	t.Helper()
	emu := emulator.New(cfg)
	mux := http.NewServeMux()
	mux.Handle(emulator.PathPrefix, emu)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return emu, srv.URL + "/_twilio"
}

func runFlexSetup(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, _, err := runCmd(newFlexCmd(), append([]string{"setup"}, args...)...)
	return out, err
}

// TestFlexSetupCommand: `hearro flex setup` against a development emulator installs the flow and
// points the address at it, says so one line per change, and a second run has nothing to do.
func TestFlexSetupCommand(t *testing.T) {
	dev := emulator.DevConfig()
	emu, api := serveEmulator(t, dev)

	out, err := runFlexSetup(t, "--twilio-api-url", api)
	if err != nil {
		t.Fatalf("hearro flex setup: %v\n%s", err, out)
	}
	want := regexp.MustCompile(`^created Studio flow (FW[0-9a-f]{32}) "HearRo verified web chat"\n` +
		`updated address ` + dev.AddressSID + `: auto-creation → studio flow (FW[0-9a-f]{32})\n$`)
	m := want.FindStringSubmatch(out)
	if m == nil || m[1] != m[2] {
		t.Fatalf("first run printed %q", out)
	}

	writesBefore := len(emu.Requests())
	if out, err := runFlexSetup(t, "--twilio-api-url", api); err != nil || out != "nothing to change\n" {
		t.Errorf("second run = %q, %v", out, err)
	}
	for _, r := range emu.Requests()[writesBefore:] {
		if r.Method != http.MethodGet {
			t.Errorf("the second run wrote: %s %s", r.Method, r.Path)
		}
	}

	// The development emulator (`hearro emulator`, serve's built-in one) is an account already set
	// up: the same flow, nothing to change.
	_, setUp := serveEmulator(t, devEmulatorConfig())
	if out, err := runFlexSetup(t, "--twilio-api-url", setUp); err != nil || out != "nothing to change\n" {
		t.Errorf("against the development emulator = %q, %v", out, err)
	}

	// A dry run says what it would do and does nothing.
	fresh, freshAPI := serveEmulator(t, dev)
	out, err = runFlexSetup(t, "--twilio-api-url", freshAPI, "--dry-run")
	if err != nil || !strings.HasPrefix(out, `would create Studio flow "HearRo verified web chat"`) || strings.Count(out, "\n") != 2 {
		t.Errorf("dry run = %q, %v", out, err)
	}
	for _, r := range fresh.Requests() {
		if r.Method != http.MethodGet {
			t.Errorf("the dry run wrote: %s %s", r.Method, r.Path)
		}
	}
}

func TestFlexSetupCommandErrors(t *testing.T) {
	_, api := serveEmulator(t, emulator.DevConfig())
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no emulator to set up", nil, "--twilio-api-url"},
		{"address not found", []string{"--twilio-api-url", api, "--twilio-account-sid", emulator.DevConfig().AccountSID,
			"--twilio-auth-token", emulator.DevConfig().AuthToken, "--twilio-address-sid", "IG00000000000000000000000000000000",
			"--workflow-sid", emulator.DevConfig().WorkflowSID, "--task-channel", emulator.DevConfig().TaskChannelSID},
			"address IG00000000000000000000000000000000 not found"},
		{"a Twilio account needs the workflow", []string{"--dev=false", "--twilio-account-sid", emulator.DevConfig().AccountSID,
			"--twilio-auth-token", emulator.DevConfig().AuthToken, "--twilio-address-sid", emulator.DevConfig().AddressSID}, "--workflow-sid is required"},
		{"missing credentials", []string{"--dev=false", "--workflow-sid", emulator.DevConfig().WorkflowSID}, "no credentials"},
		{"legacy Flex", []string{"--flex-mode", "flexflow", "--twilio-api-url", api}, "nothing to set up"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runFlexSetup(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("hearro flex setup %v = %q, %v; want an error saying %q", tt.args, out, err, tt.want)
			}
		})
	}
}
