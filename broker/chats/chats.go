// Package chats connects the broker to the contact centre: it opens chats and mints access
// tokens with the Flex client, and says which of its failures are temporary, which are the
// account's misconfiguration and which a refusal, in the broker's words.
package chats

import (
	"context"
	"errors"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/flex"
)

// Flex is the Flex client as the broker's Chats.
type Flex struct{ client *flex.Client }

var _ broker.Chats = Flex{}

// New returns c as the broker's Chats.
func New(c *flex.Client) Flex { return Flex{client: c} }

// OpenChat opens (or finds) the customer's Flex chat with the verification summary.
func (f Flex) OpenChat(ctx context.Context, req broker.ChatRequest) (broker.OpenedChat, error) {
	chat, err := f.client.OpenChat(ctx, flex.ChatRequest{
		Identity: req.Identity, CustomerFriendlyName: req.CustomerFriendlyName, ChatFriendlyName: req.ChatFriendlyName,
		Attributes: req.Attributes, IdempotencyKey: req.IdempotencyKey,
	})
	if err != nil {
		return broker.OpenedChat{}, chatError(err)
	}
	return broker.OpenedChat{Identity: chat.Identity, ConversationSID: chat.ConversationSID, ChannelSID: chat.ChannelSID}, nil
}

// Token mints the customer's Conversations access token.
func (f Flex) Token(identity string, ttl time.Duration) (string, time.Time, error) {
	return f.client.Token(identity, ttl)
}

// chatError says what kind of failure a Flex error is; an error that is not Twilio's is
// returned as it is.
func chatError(err error) error {
	var fe *flex.Error
	switch {
	case errors.Is(err, flex.ErrMisconfigured):
		return &broker.ChatError{Kind: broker.ChatMisconfigured, Err: err}
	case errors.As(err, &fe) && fe.Temporary():
		return &broker.ChatError{Kind: broker.ChatTemporary, Err: err}
	case errors.As(err, &fe):
		return &broker.ChatError{Kind: broker.ChatRejected, Err: err}
	}
	return err
}
