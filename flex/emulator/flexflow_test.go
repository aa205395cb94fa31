package emulator_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/twilio/twilio-go/client"
	chatv2 "github.com/twilio/twilio-go/rest/chat/v2"
	flexv1 "github.com/twilio/twilio-go/rest/flex/v1"
	taskrouter "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"github.com/hearro/trustbroker/flex/emulator"
)

func createChannel(t *testing.T, rc interface {
	CreateChannel(*flexv1.CreateChannelParams) (*flexv1.FlexV1Channel, error)
}, identity, name, unique, pre string) *flexv1.FlexV1Channel {
	t.Helper()
	p := (&flexv1.CreateChannelParams{}).SetFlexFlowSid(emulator.DevConfig().FlexFlowSID).SetIdentity(identity).
		SetChatUserFriendlyName(name).SetChatFriendlyName("Chat with " + name)
	if unique != "" {
		p.SetChatUniqueName(unique)
	}
	if pre != "" {
		p.SetPreEngagementData(pre)
	}
	ch, err := rc.CreateChannel(p)
	if err != nil {
		t.Fatalf("CreateChannel: %v", err)
	}
	return ch
}

func TestFlexFlowChannelLifecycleThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	// The web Flex Flow the account starts with.
	flows, err := rc.FlexV1.ListFlexFlow(nil)
	if err != nil || len(flows) != 1 {
		t.Fatalf("flows = %v, %v", flows, err)
	}
	f := flows[0]
	if deref(f.Sid) != dev.FlexFlowSID || deref(f.ChannelType) != "web" || !deref(f.Enabled) || deref(f.ChatServiceSid) != dev.ChatServiceSID {
		t.Errorf("flow = %+v", f)
	}

	ch := createChannel(t, rc.FlexV1, "hr_lee", "Lee", "hearro-s1", `{"verified":true,"claims":{"tier":"gold"}}`)
	if !sidLike(deref(ch.Sid), "CH") || !sidLike(deref(ch.UserSid), "US") || !sidLike(deref(ch.TaskSid), "WT") || deref(ch.FlexFlowSid) != dev.FlexFlowSID {
		t.Fatalf("channel = %+v", ch)
	}

	// The Chat channel, by SID and by unique name, as Flex made it.
	got, err := rc.ChatV2.FetchChannel(dev.ChatServiceSID, "hearro-s1")
	if err != nil || deref(got.Sid) != deref(ch.Sid) {
		t.Fatalf("FetchChannel(unique name) = %+v, %v", got, err)
	}
	assertJSON(t, deref(got.Attributes), `{"status":"ACTIVE","long_lived":false,"from":"Lee","channel_type":"web","pre_engagement_data":{"verified":true,"claims":{"tier":"gold"}}}`)
	if got.MembersCount != 1 || deref(got.FriendlyName) != "Chat with Lee" {
		t.Errorf("channel = %+v", got)
	}
	members, err := rc.ChatV2.ListMember(dev.ChatServiceSID, deref(ch.Sid), nil)
	if err != nil || len(members) != 1 || deref(members[0].Identity) != "hr_lee" {
		t.Errorf("members = %+v, %v", members, err)
	}

	// The task an agent is offered carries the pre-engagement data.
	task, err := rc.TaskrouterV1.FetchTask(dev.WorkspaceSID, deref(ch.TaskSid))
	if err != nil {
		t.Fatal(err)
	}
	var attrs map[string]any
	_ = json.Unmarshal([]byte(deref(task.Attributes)), &attrs)
	if attrs["channelSid"] != deref(ch.Sid) || attrs["channelType"] != "web" || attrs["name"] != "Lee" ||
		attrs["pre_engagement_data"].(map[string]any)["verified"] != true || deref(task.AssignmentStatus) != "pending" ||
		deref(task.TaskChannelUniqueName) != "chat" {
		t.Errorf("task = %+v (attributes %v)", task, attrs)
	}

	// Messages.
	if _, err := rc.ChatV2.CreateMessage(dev.ChatServiceSID, deref(ch.Sid), (&chatv2.CreateMessageParams{}).SetFrom("hr_lee").SetBody("hi")); err != nil {
		t.Fatal(err)
	}
	msgs, err := rc.ChatV2.ListMessage(dev.ChatServiceSID, deref(ch.Sid), nil)
	if err != nil || len(msgs) != 1 || deref(msgs[0].From) != "hr_lee" || deref(msgs[0].Body) != "hi" {
		t.Errorf("messages = %+v, %v", msgs, err)
	}

	// A second channel for the same identity: the same Chat user.
	ch2 := createChannel(t, rc.FlexV1, "hr_lee", "Lee", "", "")
	if deref(ch2.UserSid) != deref(ch.UserSid) || deref(ch2.Sid) == deref(ch.Sid) {
		t.Errorf("second channel = %+v", ch2)
	}
	ucs, err := rc.ChatV2.ListUserChannel(dev.ChatServiceSID, "hr_lee", nil)
	if err != nil || len(ucs) != 2 || deref(ucs[0].Status) != "joined" {
		t.Errorf("user channels = %+v, %v", ucs, err)
	}
	u, err := rc.ChatV2.FetchUser(dev.ChatServiceSID, "hr_lee")
	if err != nil || deref(u.Sid) != deref(ch.UserSid) || u.JoinedChannelsCount != 2 {
		t.Errorf("user = %+v, %v", u, err)
	}

	// Flex's WebChannels resource makes the same kind of channel.
	wc, err := rc.FlexV1.CreateWebChannel((&flexv1.CreateWebChannelParams{}).SetFlexFlowSid(dev.FlexFlowSID).
		SetIdentity("hr_web").SetCustomerFriendlyName("Wes").SetChatFriendlyName("Web"))
	if err != nil || !sidLike(deref(wc.Sid), "CH") {
		t.Fatalf("CreateWebChannel = %+v, %v", wc, err)
	}
	tasks, err := rc.TaskrouterV1.ListTask(dev.WorkspaceSID, (&taskrouter.ListTaskParams{}).SetAssignmentStatus([]string{"pending"}))
	if err != nil || len(tasks) != 3 {
		t.Errorf("pending tasks = %d, %v; want 3", len(tasks), err)
	}
}

func TestFlexFlowsThroughTwilioGo(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	dev := emulator.DevConfig()

	sms, err := rc.FlexV1.CreateFlexFlow((&flexv1.CreateFlexFlowParams{}).SetFriendlyName("SMS flow").
		SetChatServiceSid(dev.ChatServiceSID).SetChannelType("sms").SetEnabled(true))
	if err != nil || !sidLike(deref(sms.Sid), "FO") || deref(sms.ChannelType) != "sms" {
		t.Fatalf("CreateFlexFlow = %+v, %v", sms, err)
	}
	off, err := rc.FlexV1.UpdateFlexFlow(dev.FlexFlowSID, (&flexv1.UpdateFlexFlowParams{}).SetEnabled(false))
	if err != nil || deref(off.Enabled) {
		t.Fatalf("UpdateFlexFlow = %+v, %v", off, err)
	}
	byName, err := rc.FlexV1.ListFlexFlow((&flexv1.ListFlexFlowParams{}).SetFriendlyName("SMS flow"))
	if err != nil || len(byName) != 1 {
		t.Errorf("by name = %v, %v", byName, err)
	}

	tests := []struct {
		name         string
		call         func() error
		status, code int
	}{
		{"400/disabled flow", func() error {
			_, err := rc.FlexV1.CreateChannel((&flexv1.CreateChannelParams{}).SetFlexFlowSid(dev.FlexFlowSID).SetIdentity("hr_x").
				SetChatUserFriendlyName("X").SetChatFriendlyName("X"))
			return err
		}, 400, 20001},
		{"404/unknown flow", func() error {
			_, err := rc.FlexV1.CreateChannel((&flexv1.CreateChannelParams{}).SetFlexFlowSid("FO00000000000000000000000000000000").SetIdentity("hr_x").
				SetChatUserFriendlyName("X").SetChatFriendlyName("X"))
			return err
		}, 404, 20404},
		{"400/no identity", func() error {
			_, err := rc.FlexV1.CreateChannel((&flexv1.CreateChannelParams{}).SetFlexFlowSid(*sms.Sid).SetChatUserFriendlyName("X").SetChatFriendlyName("X"))
			return err
		}, 400, 20001},
		{"400/bad channel type", func() error {
			_, err := rc.FlexV1.UpdateFlexFlow(*sms.Sid, (&flexv1.UpdateFlexFlowParams{}).SetChannelType("pigeon"))
			return err
		}, 400, 20001},
		{"404/unknown flow fetch", func() error {
			_, err := rc.FlexV1.FetchFlexFlow("FO00000000000000000000000000000000")
			return err
		}, 404, 20404},
		{"404/other chat service", func() error {
			_, err := rc.ChatV2.FetchChannel("IS00000000000000000000000000000000", "x")
			return err
		}, 404, 20404},
		{"404/unknown chat user", func() error {
			_, err := rc.ChatV2.ListUserChannel(dev.ChatServiceSID, "nobody", nil)
			return err
		}, 404, 20404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var te *client.TwilioRestError
			if err := tt.call(); !errors.As(err, &te) || te.Status != tt.status || te.Code != tt.code {
				t.Errorf("err = %v, want %d/%d", err, tt.status, tt.code)
			}
		})
	}
}

func TestFlexChannelUniqueNameConflict(t *testing.T) {
	_, srv := start(t, nil)
	rc := devRest(t, srv)
	createChannel(t, rc.FlexV1, "hr_a", "A", "hearro-k", "")
	_, err := rc.FlexV1.CreateChannel((&flexv1.CreateChannelParams{}).SetFlexFlowSid(emulator.DevConfig().FlexFlowSID).
		SetIdentity("hr_a").SetChatUserFriendlyName("A").SetChatFriendlyName("A").SetChatUniqueName("hearro-k"))
	var te *client.TwilioRestError
	if !errors.As(err, &te) || te.Status != 409 || te.Code != 50307 {
		t.Errorf("err = %v, want 409/50307", err)
	}
}
