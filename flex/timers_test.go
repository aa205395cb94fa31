package flex_test

import (
	"context"
	"strings"
	"testing"
	"time"

	conversations "github.com/twilio/twilio-go/rest/conversations/v1"

	"github.com/hearro/trustbroker/flex"
)

// OpenChat sets the configured conversation timers; by the emulator's clock
// the conversation goes inactive, then closed, as at Twilio.
func TestOpenChatSetsConversationTimers(t *testing.T) {
	c, emu, cfg := setup(t, nil, func(c *flex.Config) {
		c.ChatInactiveAfter, c.ChatCloseAfter = 30*time.Minute, 24*time.Hour
	})
	chat, err := c.OpenChat(context.Background(), request("hr_timers", "s-timers"))
	if err != nil {
		t.Fatal(err)
	}
	var form map[string][]string
	for _, r := range emu.Requests() {
		if r.Operation == "UpdateConversation" {
			form = r.Form
		}
	}
	if got := strings.Join(form["Timers.Inactive"], ",") + " " + strings.Join(form["Timers.Closed"], ","); got != "PT30M PT24H" {
		t.Errorf("timers sent = %q, want PT30M PT24H", got)
	}
	rc := restFor(t, cfg)
	state := func() (string, map[string]any) {
		t.Helper()
		conv, err := rc.ConversationsV1.FetchConversation(chat.ConversationSID)
		if err != nil {
			t.Fatal(err)
		}
		timers, _ := (*conv.Timers).(map[string]any)
		return *conv.State, timers
	}
	st, timers := state()
	if st != "active" || timers["date_inactive"] == nil || timers["date_closed"] == nil {
		t.Fatalf("state %s, timers %v; want active with both dates", st, timers)
	}
	emu.Advance(31 * time.Minute)
	if st, _ := state(); st != "inactive" {
		t.Fatalf("after 31 minutes: %s, want inactive", st)
	}
	emu.Advance(24 * time.Hour)
	if st, _ := state(); st != "closed" {
		t.Fatalf("after a day: %s, want closed", st)
	}
	// Closed is final: the timers cannot bring it back.
	_, err = rc.ConversationsV1.UpdateConversation(chat.ConversationSID, (&conversations.UpdateConversationParams{}).SetState("active"))
	if err == nil {
		t.Error("a closed conversation was reopened")
	}
}

func TestTimersWithoutConfigurationAreNotSet(t *testing.T) {
	c, emu, _ := setup(t, nil)
	if _, err := c.OpenChat(context.Background(), request("hr_notimers", "s-notimers")); err != nil {
		t.Fatal(err)
	}
	for _, r := range emu.Requests() {
		if r.Form.Has("Timers.Inactive") || r.Form.Has("Timers.Closed") {
			t.Errorf("%s sent timers %v", r.Operation, r.Form)
		}
	}
}
