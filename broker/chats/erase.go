package chats

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/flex"
)

var _ broker.ChatEraser = Flex{}

// EraseChats removes the customer's verification summary, pre-engagement data and name from
// their Flex chats, tasks and chat user, or deletes the chats (flex.Client.Erase). Legacy Flex
// Flow accounts cannot be erased: broker.ErrChatErasureUnsupported.
func (f Flex) EraseChats(ctx context.Context, req broker.ChatErasure) error {
	err := f.client.Erase(ctx, flex.ErasePlan{Identity: req.Identity, Conversations: req.Chats, Delete: req.Delete})
	if errors.Is(err, flex.ErrEraseUnsupported) {
		return fmt.Errorf("%w: %w", broker.ErrChatErasureUnsupported, err)
	}
	return err
}
