package flex_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// devConfig is the flex configuration matching the emulator's development
// account.
func devConfig() flex.Config {
	d := emulator.DevConfig()
	return flex.Config{
		AccountSID:              d.AccountSID,
		AuthToken:               d.AuthToken,
		APIKeySID:               d.APIKeySID,
		APIKeySecret:            d.APIKeySecret,
		AddressSID:              d.AddressSID,
		ConversationsServiceSID: d.ConversationsServiceSID,
		FlexFlowSID:             d.FlexFlowSID,
		ChatServiceSID:          d.ChatServiceSID,
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*flex.Config)
		want   []string // each must appear in the error; none means valid
	}{
		{"valid/dev config", func(*flex.Config) {}, nil},
		{"valid/API key only", func(c *flex.Config) { c.AuthToken = "" }, nil},
		{"valid/emulator base URL", func(c *flex.Config) { c.BaseURL = "http://127.0.0.1:8080/_twilio" }, nil},
		{"valid/chat timers", func(c *flex.Config) { c.ChatInactiveAfter, c.ChatCloseAfter = time.Minute, 10*time.Minute }, nil},
		{"invalid/inactive timer below Twilio's minimum", func(c *flex.Config) { c.ChatInactiveAfter = 30 * time.Second },
			[]string{"ChatInactiveAfter: 30s is below Twilio's minimum of 1m0s"}},
		{"invalid/close timer below Twilio's minimum", func(c *flex.Config) { c.ChatCloseAfter = 5 * time.Minute },
			[]string{"ChatCloseAfter: 5m0s is below Twilio's minimum of 10m0s"}},
		{"invalid/close timer not after the inactive one", func(c *flex.Config) { c.ChatInactiveAfter, c.ChatCloseAfter = time.Hour, 30*time.Minute },
			[]string{"ChatCloseAfter: 30m0s must be longer than ChatInactiveAfter (1h0m0s)"}},
		{"invalid/everything missing", func(c *flex.Config) { *c = flex.Config{} },
			[]string{"AccountSID: missing", "APIKeySID: missing", "APIKeySecret: missing", "AddressSID: missing", "ConversationsServiceSID: missing"}},
		{"invalid/wrong prefixes", func(c *flex.Config) {
			c.AccountSID, c.APIKeySID = c.APIKeySID, c.AccountSID
			c.AddressSID, c.ConversationsServiceSID = c.ConversationsServiceSID, c.AddressSID
		}, []string{"AccountSID", "APIKeySID", "AddressSID", "ConversationsServiceSID"}},
		{"invalid/short SID", func(c *flex.Config) { c.AddressSID = "IG123" }, []string{`AddressSID: "IG123" is not "IG" followed by 32 hex digits`}},
		{"invalid/non-hex SID", func(c *flex.Config) { c.AccountSID = "ACzz000000000000000000000000000001" }, []string{"AccountSID"}},
		{"invalid/malformed auth token", func(c *flex.Config) { c.AuthToken = "short" }, []string{"AuthToken: malformed"}},
		{"invalid/API key secret with symbols", func(c *flex.Config) { c.APIKeySecret = "devApiKeySecretPublicNotSecret0!" }, []string{"APIKeySecret: malformed"}},
		{"invalid/base URL scheme", func(c *flex.Config) { c.BaseURL = "ftp://example.com" }, []string{"BaseURL"}},
		{"invalid/base URL with credentials", func(c *flex.Config) { c.BaseURL = "http://u:p@localhost/_twilio" }, []string{"BaseURL: must not carry credentials"}},
		{"valid/flexflow mode", func(c *flex.Config) { c.Mode = flex.ModeFlexFlow }, nil},
		{"valid/flexflow mode without conversations settings", func(c *flex.Config) {
			c.Mode, c.AddressSID, c.ConversationsServiceSID = flex.ModeFlexFlow, "", ""
		}, nil},
		{"valid/conversations mode without flex flow settings", func(c *flex.Config) { c.FlexFlowSID, c.ChatServiceSID = "", "" }, nil},
		{"invalid/flexflow mode without its settings", func(c *flex.Config) {
			c.Mode, c.FlexFlowSID, c.ChatServiceSID = flex.ModeFlexFlow, "", ""
		}, []string{"FlexFlowSID: missing", "ChatServiceSID: missing"}},
		{"invalid/flexflow mode with a malformed flow", func(c *flex.Config) { c.Mode, c.FlexFlowSID = flex.ModeFlexFlow, "IS00000000000000000000000000000000" },
			[]string{`FlexFlowSID: "IS00000000000000000000000000000000" is not "FO"`}},
		{"invalid/unknown mode", func(c *flex.Config) { c.Mode = "studio" }, []string{`Mode: "studio"`}},
		{"invalid/negative retry", func(c *flex.Config) { c.Retry.Total = -time.Second }, []string{"Retry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := devConfig()
			tt.modify(&cfg)
			err := cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to mention %q", err, w)
				}
			}
			for _, secret := range []string{cfg.AuthToken, cfg.APIKeySecret} {
				if secret != "" && strings.Contains(err.Error(), secret) {
					t.Errorf("Validate() echoes a secret: %q", err)
				}
			}
			if _, err := flex.New(cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := devConfig()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "flex", cfg)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", cfg),
		"%+v":  fmt.Sprintf("%+v", cfg),
		"%#v":  fmt.Sprintf("%#v", cfg),
		"%s":   fmt.Sprintf("%s", cfg),
		"slog": logs.String(),
	}
	for how, out := range outputs {
		for _, secret := range []string{cfg.AuthToken, cfg.APIKeySecret} {
			if strings.Contains(out, secret) {
				t.Errorf("%s prints a secret: %s", how, out)
			}
		}
		if !strings.Contains(out, cfg.AccountSID) {
			t.Errorf("%s does not show the account: %s", how, out)
		}
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]flex.Mode{"": flex.ModeConversations, "conversations": flex.ModeConversations, "flexflow": flex.ModeFlexFlow} {
		if got, err := flex.ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Conversations", "flex-flow", "legacy"} {
		if _, err := flex.ParseMode(in); err == nil {
			t.Errorf("ParseMode(%q) accepted", in)
		}
	}
}
