package flex_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	studio "github.com/twilio/twilio-go/rest/studio/v2"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// setupConfig is a SetupConfig for the emulator of cfg.
func setupConfig(cfg flex.Config) flex.SetupConfig {
	dev := emulator.DevConfig()
	return flex.SetupConfig{Config: cfg, WorkflowSID: dev.WorkflowSID, TaskChannel: "chat", WorkspaceSID: dev.WorkspaceSID}
}

// writes are the requests that change something at Twilio.
func writes(reqs []emulator.Request) []string {
	var out []string
	for _, r := range reqs {
		if r.Method != http.MethodGet {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// ourFlow finds the shipped flow by name.
func ourFlow(t *testing.T, cfg flex.Config) *studio.StudioV2Flow {
	t.Helper()
	flows, err := restFor(t, cfg).StudioV2.ListFlow(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range flows {
		if *f.FriendlyName == flex.StudioFlowName {
			full, err := restFor(t, cfg).StudioV2.FetchFlow(*f.Sid)
			if err != nil {
				t.Fatal(err)
			}
			return full
		}
	}
	return nil
}

func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestSetup(t *testing.T) {
	_, emu, cfg := setup(t, nil)
	dev := emulator.DevConfig()
	ctx := context.Background()

	// First run: the flow is created and the address runs it.
	report, err := flex.Setup(ctx, setupConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	fl := ourFlow(t, cfg)
	if fl == nil {
		t.Fatal("no flow named " + flex.StudioFlowName)
	}
	wantLines := []string{
		`created Studio flow ` + *fl.Sid + ` "HearRo verified web chat"`,
		`updated address ` + dev.AddressSID + `: auto-creation → studio flow ` + *fl.Sid,
	}
	if !reflect.DeepEqual(report.Changes, wantLines) || report.FlowSID != *fl.Sid || report.String() != strings.Join(wantLines, "\n") {
		t.Errorf("report = %q", report.Changes)
	}
	want, _ := flex.StudioFlow(dev.WorkflowSID, dev.TaskChannelSID)
	var wantDef any
	_ = json.Unmarshal(want, &wantDef)
	if !reflect.DeepEqual(asJSON(t, fl.Definition), wantDef) || *fl.Status != "published" || fl.Revision != 1 {
		t.Errorf("flow = status %s, revision %d, definition %v", *fl.Status, fl.Revision, asJSON(t, fl.Definition))
	}
	addr, err := restFor(t, cfg).ConversationsV1.FetchConfigurationAddress(dev.AddressSID)
	if err != nil {
		t.Fatal(err)
	}
	auto := asJSON(t, addr.AutoCreation).(map[string]any)
	if auto["enabled"] != true || auto["type"] != "studio" || auto["studio_flow_sid"] != *fl.Sid {
		t.Errorf("auto_creation = %v", auto)
	}

	// Second run: nothing to change, nothing written.
	before := len(emu.Requests())
	report, err = flex.Setup(ctx, setupConfig(cfg))
	if err != nil || len(report.Changes) != 0 || report.String() != "nothing to change" || report.FlowSID != *fl.Sid {
		t.Errorf("second run = %q, %v", report, err)
	}
	if w := writes(emu.Requests()[before:]); len(w) != 0 {
		t.Errorf("the second run wrote %v", w)
	}

	// A changed definition is updated: one revision more.
	other := map[string]any{"initial_state": "Trigger", "states": []any{map[string]any{"name": "Trigger", "type": "trigger", "transitions": []any{}, "properties": map[string]any{}}}}
	changed, err := restFor(t, cfg).StudioV2.UpdateFlow(*fl.Sid, (&studio.UpdateFlowParams{}).SetStatus("published").SetDefinition(other))
	if err != nil {
		t.Fatal(err)
	}
	report, err = flex.Setup(ctx, setupConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if fl2 := ourFlow(t, cfg); !reflect.DeepEqual(asJSON(t, fl2.Definition), wantDef) || fl2.Revision != changed.Revision+1 ||
		len(report.Changes) != 1 || !strings.HasPrefix(report.Changes[0], "updated Studio flow "+*fl.Sid) {
		t.Errorf("after a change: revision %d (was %d), report %q", fl2.Revision, changed.Revision, report.Changes)
	}

	// An address pointed elsewhere is pointed back.
	if _, err := restFor(t, cfg).ConversationsV1.UpdateConfigurationAddress(dev.AddressSID, (&conversations.UpdateConfigurationAddressParams{}).
		SetAutoCreationEnabled(false)); err != nil {
		t.Fatal(err)
	}
	report, err = flex.Setup(ctx, setupConfig(cfg))
	if err != nil || len(report.Changes) != 1 || !strings.HasPrefix(report.Changes[0], "updated address") {
		t.Errorf("after disabling the address: %q, %v", report.Changes, err)
	}

	// Set up, a verified chat's first message makes a task with the
	// summary, in the verified customers' queue.
	client, err := flex.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	chat, err := client.OpenChat(ctx, flex.ChatRequest{Identity: "hr_setup", CustomerFriendlyName: "Ada Lovelace", Attributes: summary(), IdempotencyKey: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	customerWrites(t, cfg, chat.ConversationSID, "hr_setup")
	task := onlyTask(t, cfg)
	if got := decode(t, *task.Attributes).(map[string]any); got["name"] != "Ada Lovelace" || !reflect.DeepEqual(got["verification"], roundTrip(t, summary())) ||
		*task.TaskQueueFriendlyName != emulator.QueueVerified {
		t.Errorf("task %v in %q", got, *task.TaskQueueFriendlyName)
	}
}

func TestSetupDryRun(t *testing.T) {
	_, emu, cfg := setup(t, nil)
	sc := setupConfig(cfg)
	sc.DryRun = true
	report, err := flex.Setup(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`would create Studio flow "HearRo verified web chat"`,
		`would update address ` + emulator.DevConfig().AddressSID + `: auto-creation → studio flow (the new flow)`}
	if !reflect.DeepEqual(report.Changes, want) || !report.DryRun {
		t.Errorf("dry run = %q", report.Changes)
	}
	if w := writes(emu.Requests()); len(w) != 0 {
		t.Errorf("the dry run wrote %v", w)
	}
	if ourFlow(t, cfg) != nil {
		t.Error("the dry run created the flow")
	}
}

func TestSetupErrors(t *testing.T) {
	_, emu, cfg := setup(t, nil)
	tests := []struct {
		name   string
		modify func(*flex.SetupConfig)
		want   string
	}{
		{"address not found", func(c *flex.SetupConfig) { c.AddressSID = "IG00000000000000000000000000000000" }, "address IG00000000000000000000000000000000 not found"},
		{"no credentials", func(c *flex.SetupConfig) { c.AuthToken, c.APIKeySID, c.APIKeySecret = "", "", "" }, "no credentials"},
		{"no workflow", func(c *flex.SetupConfig) { c.WorkflowSID = "" }, "workflow SID"},
		{"unknown workflow", func(c *flex.SetupConfig) { c.WorkflowSID = "WW00000000000000000000000000000000" }, "workflow WW00000000000000000000000000000000 not found"},
		{"task channel name without workspace", func(c *flex.SetupConfig) { c.WorkspaceSID = "" }, `task channel "chat" is a name`},
		{"unknown task channel", func(c *flex.SetupConfig) { c.TaskChannel = "fax" }, `no task channel "fax"`},
		{"wrong credentials", func(c *flex.SetupConfig) { c.AuthToken = "wrongAuthToken000000000000000000" }, "refused the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := setupConfig(cfg)
			tt.modify(&sc)
			_, err := flex.Setup(context.Background(), sc)
			if !errors.Is(err, flex.ErrSetup) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrSetup saying %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), emulator.DevConfig().AuthToken) {
				t.Error("the error shows the auth token")
			}
		})
	}
	if w := writes(emu.Requests()); len(w) != 0 {
		t.Errorf("failed setups wrote %v", w)
	}
}
