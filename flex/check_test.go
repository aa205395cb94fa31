package flex_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	flexv1 "github.com/twilio/twilio-go/rest/flex/v1"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		mode    func(*flex.Config)
		prepare func(t *testing.T, cfg *flex.Config)
		want    []string // each in the error; none: valid
	}{
		{name: "conversations/valid", mode: func(*flex.Config) {}},
		{name: "conversations/unknown address", mode: func(*flex.Config) {},
			prepare: func(_ *testing.T, c *flex.Config) { c.AddressSID = "IG00000000000000000000000000000000" },
			want:    []string{"AddressSID IG00000000000000000000000000000000: no such Conversations Address"}},
		{name: "conversations/unknown service", mode: func(*flex.Config) {},
			prepare: func(_ *testing.T, c *flex.Config) { c.ConversationsServiceSID = "IS00000000000000000000000000000000" },
			want: []string{"ConversationsServiceSID IS00000000000000000000000000000000 is not the account's default Conversations service",
				"ConversationsServiceSID IS00000000000000000000000000000000: no such Conversations service"}},
		{name: "conversations/wrong auth token", mode: func(*flex.Config) {},
			prepare: func(_ *testing.T, c *flex.Config) { c.AuthToken = "wrongAuthToken000000000000000000" },
			want:    []string{"Twilio refused the credentials"}},
		{name: "flexflow/valid", mode: flexFlowMode},
		{name: "flexflow/unknown flow", mode: flexFlowMode,
			prepare: func(_ *testing.T, c *flex.Config) { c.FlexFlowSID = "FO00000000000000000000000000000000" },
			want: []string{"FlexFlowSID FO00000000000000000000000000000000 is not a Flex Flow of account",
				emulator.DevConfig().FlexFlowSID + ` "Flex Web Channel Flow" (web, enabled)`}},
		{name: "flexflow/disabled flow", mode: flexFlowMode,
			prepare: func(t *testing.T, c *flex.Config) {
				if _, err := restFor(t, *c).FlexV1.UpdateFlexFlow(c.FlexFlowSID, (&flexv1.UpdateFlexFlowParams{}).SetEnabled(false)); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"is disabled"}},
		{name: "flexflow/not a web flow", mode: flexFlowMode,
			prepare: func(t *testing.T, c *flex.Config) {
				if _, err := restFor(t, *c).FlexV1.UpdateFlexFlow(c.FlexFlowSID, (&flexv1.UpdateFlexFlowParams{}).SetChannelType("whatsapp")); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{`channel type "whatsapp"`}},
		{name: "flexflow/unknown chat service", mode: flexFlowMode,
			prepare: func(_ *testing.T, c *flex.Config) { c.ChatServiceSID = "IS00000000000000000000000000000000" },
			want: []string{"uses Chat service " + emulator.DevConfig().ChatServiceSID,
				"ChatServiceSID IS00000000000000000000000000000000: no such Programmable Chat service"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, cfg := setup(t, nil, tt.mode)
			if tt.prepare != nil {
				tt.prepare(t, &cfg)
			}
			c, err := flex.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Check(context.Background())
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Check = %v", err)
				}
				return
			}
			if !errors.Is(err, flex.ErrMisconfigured) {
				t.Fatalf("Check = %v, want ErrMisconfigured", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Check = %q\nwant it to say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), cfg.AuthToken) || strings.Contains(err.Error(), cfg.APIKeySecret) {
				t.Error("Check's error contains a secret")
			}
		})
	}
}

func TestCheckWhenTwilioIsDown(t *testing.T) {
	_, emu, cfg := setup(t, nil)
	emu.InjectFault(emulator.Fault{Op: "*", Status: http.StatusServiceUnavailable})
	c, err := flex.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Check(context.Background())
	var fe *flex.Error
	if !errors.As(err, &fe) || !fe.Temporary() || errors.Is(err, flex.ErrMisconfigured) {
		t.Errorf("Check = %v, want a temporary *flex.Error, not a misconfiguration", err)
	}
}
