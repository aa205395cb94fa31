package chats

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/flex"
)

// Each kind of Flex failure reaches the broker as the kind it acts on: retried, reported as
// the account's misconfiguration, or as Twilio's refusal; anything else is left as it is.
func TestFlexFailuresKeepTheirMeaning(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want broker.ChatErrorKind // 0: not a *broker.ChatError
	}{
		{"503 is temporary", &flex.Error{Op: "create web chat", Status: 503}, broker.ChatTemporary},
		{"429 is temporary", &flex.Error{Op: "create web chat", Status: 429}, broker.ChatTemporary},
		{"timeout is temporary", &flex.Error{Op: "create web chat", Err: context.DeadlineExceeded}, broker.ChatTemporary},
		{"400 is a refusal", &flex.Error{Op: "create web chat", Status: 400, Code: 20001}, broker.ChatRejected},
		{"no such flow is misconfiguration", &flex.Error{Op: "fetch flex flow", Err: flex.ErrMisconfigured}, broker.ChatMisconfigured},
		{"wrapped misconfiguration", fmt.Errorf("check: %w", flex.ErrMisconfigured), broker.ChatMisconfigured},
		{"not Twilio's", errors.New("disk full"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := chatError(tc.err)
			var ce *broker.ChatError
			switch {
			case tc.want == 0 && errors.As(got, &ce):
				t.Fatalf("%v became a chat error of kind %d", tc.err, ce.Kind)
			case tc.want != 0 && (!errors.As(got, &ce) || ce.Kind != tc.want):
				t.Fatalf("%v: got %#v, want kind %d", tc.err, got, tc.want)
			case !errors.Is(got, tc.err):
				t.Fatalf("%v is not kept in the chain of %v", tc.err, got)
			}
		})
	}
}
