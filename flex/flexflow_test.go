package flex_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	flexv1 "github.com/twilio/twilio-go/rest/flex/v1"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

func TestOpenChatFlexFlow(t *testing.T) {
	c, emu, cfg := setup(t, nil, flexFlowMode)
	req := flex.ChatRequest{
		Identity:             "hr_LEGACYCUSTOMER",
		CustomerFriendlyName: "Verified customer",
		ChatFriendlyName:     "Verified chat",
		Attributes:           summary(),
		IdempotencyKey:       "01LEGACY",
	}
	chat, err := c.OpenChat(context.Background(), req)
	if err != nil {
		t.Fatalf("OpenChat: %v", err)
	}
	if !strings.HasPrefix(chat.ChannelSID, "CH") || chat.ConversationSID != chat.ChannelSID || chat.Identity != req.Identity ||
		!strings.HasPrefix(chat.TaskSID, "WT") || chat.Reused || chat.SID() != chat.ChannelSID {
		t.Fatalf("chat = %+v", chat)
	}
	rc := restFor(t, cfg)

	// The channel: Flex's attributes, and the summary under "verification".
	ch, err := rc.ChatV2.FetchChannel(cfg.ChatServiceSID, flex.UniqueNamePrefix+"01LEGACY")
	if err != nil || *ch.Sid != chat.ChannelSID {
		t.Fatalf("channel by unique name = %v, %v", ch, err)
	}
	want := roundTrip(t, map[string]any{"status": "ACTIVE", "long_lived": false, "from": "Verified customer", "channel_type": "web",
		"pre_engagement_data": summary(), "verification": summary()})
	if got := decode(t, *ch.Attributes); !reflect.DeepEqual(got, any(want)) {
		t.Errorf("channel attributes = %v\nwant %v", got, want)
	}
	// The task: the pre-engagement data in its attributes.
	task, err := rc.TaskrouterV1.FetchTask(emulator.DevConfig().WorkspaceSID, chat.TaskSID)
	if err != nil {
		t.Fatal(err)
	}
	var taskAttrs map[string]any
	_ = json.Unmarshal([]byte(*task.Attributes), &taskAttrs)
	if !reflect.DeepEqual(taskAttrs["pre_engagement_data"], any(roundTrip(t, summary()))) || taskAttrs["channelSid"] != chat.ChannelSID {
		t.Errorf("task attributes = %v", taskAttrs)
	}

	// The calls, and what the Flex channel was created with.
	var ops []string
	for _, r := range emu.Requests()[:len(emu.Requests())-2] {
		ops = append(ops, r.Operation)
	}
	wantOps := []string{"FetchFlexFlow", "FetchChannel", "CreateChannel", "FetchChannel", "UpdateChannel"}
	if !reflect.DeepEqual(ops, wantOps) {
		t.Fatalf("operations = %q, want %q", ops, wantOps)
	}
	var create = emu.Requests()[2]
	assertForm(t, create.Form, map[string]string{
		"FlexFlowSid":          cfg.FlexFlowSID,
		"Identity":             req.Identity,
		"ChatUserFriendlyName": req.CustomerFriendlyName,
		"ChatFriendlyName":     req.ChatFriendlyName,
		"ChatUniqueName":       flex.UniqueNamePrefix + "01LEGACY",
		"PreEngagementData":    "",
	})
	if got := decode(t, create.Form.Get("PreEngagementData")); !reflect.DeepEqual(got, any(roundTrip(t, summary()))) {
		t.Errorf("PreEngagementData = %v", got)
	}

	// Again, with the same key: the same channel; the flow is not checked again.
	again, err := c.OpenChat(context.Background(), req)
	if err != nil || again.ChannelSID != chat.ChannelSID || !again.Reused {
		t.Errorf("again = %+v, %v", again, err)
	}
	if n := count(emu.Requests(), "CreateChannel"); n != 1 {
		t.Errorf("%d channels created, want 1", n)
	}
	if n := count(emu.Requests(), "FetchFlexFlow"); n != 1 {
		t.Errorf("the Flex Flow was fetched %d times, want once", n)
	}
}

func TestTokenFlexFlow(t *testing.T) {
	c, _, cfg := setup(t, nil, flexFlowMode)
	token, _, err := c.Token("hr_legacy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var payload struct {
		Grants struct {
			Identity string
			Chat     struct {
				ServiceSID string `json:"service_sid"`
			}
		}
	}
	decodeSegment(t, strings.Split(token, ".")[1], &payload)
	if payload.Grants.Identity != "hr_legacy" || payload.Grants.Chat.ServiceSID != cfg.ChatServiceSID {
		t.Errorf("grants = %+v, want the Chat service %s", payload.Grants, cfg.ChatServiceSID)
	}
}

func TestOpenChatFlexFlowRefusesAFlowThatCannotTakeWebChats(t *testing.T) {
	tests := []struct {
		name   string
		modify func(t *testing.T, cfg flex.Config) flex.Config
		want   string
	}{
		{"disabled", func(t *testing.T, cfg flex.Config) flex.Config {
			if _, err := restFor(t, cfg).FlexV1.UpdateFlexFlow(cfg.FlexFlowSID, (&flexv1.UpdateFlexFlowParams{}).SetEnabled(false)); err != nil {
				t.Fatal(err)
			}
			return cfg
		}, "is disabled"},
		{"sms flow", func(t *testing.T, cfg flex.Config) flex.Config {
			f, err := restFor(t, cfg).FlexV1.CreateFlexFlow((&flexv1.CreateFlexFlowParams{}).SetFriendlyName("SMS").
				SetChatServiceSid(cfg.ChatServiceSID).SetChannelType("sms"))
			if err != nil {
				t.Fatal(err)
			}
			cfg.FlexFlowSID = *f.Sid
			return cfg
		}, `channel type "sms"`},
		{"unknown flow", func(t *testing.T, cfg flex.Config) flex.Config {
			cfg.FlexFlowSID = "FO00000000000000000000000000000000"
			return cfg
		}, "no such Flex Flow"},
		{"another chat service", func(t *testing.T, cfg flex.Config) flex.Config {
			cfg.ChatServiceSID = "IS00000000000000000000000000000000"
			return cfg
		}, "uses Chat service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, emu, cfg := setup(t, nil, flexFlowMode)
			cfg = tt.modify(t, cfg)
			c, err := flex.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.OpenChat(context.Background(), flex.ChatRequest{Identity: "hr_x", IdempotencyKey: "k"})
			var fe *flex.Error
			if !errors.As(err, &fe) || !errors.Is(err, flex.ErrMisconfigured) || fe.Temporary() || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("OpenChat = %v, want a permanent misconfiguration error mentioning %q", err, tt.want)
			}
			if n := count(emu.Requests(), "CreateChannel"); n != 0 {
				t.Errorf("%d channels created", n)
			}
		})
	}
}
