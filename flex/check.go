package flex

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/twilio/twilio-go"
	chatv2 "github.com/twilio/twilio-go/rest/chat/v2"
	conversations "github.com/twilio/twilio-go/rest/conversations/v1"
	flexv1 "github.com/twilio/twilio-go/rest/flex/v1"
)

// Check asks Twilio whether the account is set up as the configuration
// says, for live-mode startup: the credentials work, and
//
//   - conversations mode: AddressSID is a web chat Conversations Address,
//     ConversationsServiceSID exists and is the account's default
//     Conversations service (where Flex web chats live);
//   - Flex Flow mode: FlexFlowSID is among the account's Flex Flows, is
//     enabled, of channel type web and uses ChatServiceSID, which exists.
//
// Each problem is reported, naming the setting; problems wrap
// ErrMisconfigured. When Twilio could not be asked (network, 5xx) the error
// is the *Error of that call, Temporary. Check does not retry.
func (c *Client) Check(ctx context.Context) error {
	bc := c.base.bind(ctx)
	defer bc.done()
	rest := restClient(bc)
	var problems []error
	misconfigured := func(format string, args ...any) {
		problems = append(problems, fmt.Errorf("flex: check: %s: %w", fmt.Sprintf(format, args...), ErrMisconfigured))
	}
	// failed turns a failed call into a problem, or returns it as is when
	// Twilio could not answer.
	failed := func(err error, notFound string) error {
		var fe *Error
		if !errors.As(err, &fe) || fe.Temporary() || fe.Status == 0 {
			return err
		}
		switch fe.Status {
		case http.StatusUnauthorized, http.StatusForbidden:
			misconfigured("Twilio refused the credentials (AccountSID %s with the AuthToken, or the API key %s): %s", c.cfg.AccountSID, c.cfg.APIKeySID, fe.Message)
		case http.StatusNotFound:
			misconfigured("%s", notFound)
		default:
			misconfigured("%v", fe)
		}
		return nil
	}

	var err error
	if c.cfg.Mode == ModeFlexFlow {
		err = c.checkFlexFlow(ctx, bc, rest, misconfigured, failed)
	} else {
		err = c.checkConversations(ctx, bc, rest, misconfigured, failed)
	}
	if err != nil {
		return err
	}
	return errors.Join(problems...)
}

func (c *Client) checkConversations(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	misconfigured func(string, ...any), failed func(error, string) error) error {
	cfg, err := call(ctx, c, bc, "fetch conversations configuration", func() (*conversations.ConversationsV1Configuration, error) {
		return rest.ConversationsV1.FetchConfiguration()
	})
	if err != nil {
		if err := failed(err, "the account has no Conversations configuration"); err != nil {
			return err
		}
		if isStatus(err, http.StatusUnauthorized) {
			return nil // nothing else can be asked
		}
	} else if def := deref(cfg.DefaultChatServiceSid); def != "" && def != c.cfg.ConversationsServiceSID {
		misconfigured("ConversationsServiceSID %s is not the account's default Conversations service %s, where Flex web chats live",
			c.cfg.ConversationsServiceSID, def)
	}

	if _, err := call(ctx, c, bc, "fetch conversations service", func() (*conversations.ConversationsV1Service, error) {
		return rest.ConversationsV1.FetchService(c.cfg.ConversationsServiceSID)
	}); err != nil {
		if err := failed(err, fmt.Sprintf("ConversationsServiceSID %s: no such Conversations service (console: Conversations > Manage > Services)", c.cfg.ConversationsServiceSID)); err != nil {
			return err
		}
	}

	addr, err := call(ctx, c, bc, "fetch conversations address", func() (*conversations.ConversationsV1ConfigurationAddress, error) {
		return rest.ConversationsV1.FetchConfigurationAddress(c.cfg.AddressSID)
	})
	if err != nil {
		return failed(err, fmt.Sprintf("AddressSID %s: no such Conversations Address (console: Flex > Manage > Messaging > Conversations addresses, a Web Chat address)", c.cfg.AddressSID))
	}
	switch t := deref(addr.Type); t {
	case "sms", "whatsapp", "messenger", "gbm", "email", "rcs", "apple":
		misconfigured("AddressSID %s is a %s address; web chats need a Web Chat address", c.cfg.AddressSID, t)
	}
	return nil
}

func (c *Client) checkFlexFlow(ctx context.Context, bc *BaseClient, rest *twilio.RestClient,
	misconfigured func(string, ...any), failed func(error, string) error) error {
	params := &flexv1.ListFlexFlowParams{}
	params.SetPageSize(50)
	params.SetLimit(1000)
	flows, err := call(ctx, c, bc, "list flex flows", func() ([]flexv1.FlexV1FlexFlow, error) {
		return rest.FlexV1.ListFlexFlow(params)
	})
	if err != nil {
		if err := failed(err, "the account has no Flex (Flex API answered 404)"); err != nil {
			return err
		}
		if isStatus(err, http.StatusUnauthorized) {
			return nil
		}
	} else {
		var flow *flexv1.FlexV1FlexFlow
		for i := range flows {
			if deref(flows[i].Sid) == c.cfg.FlexFlowSID {
				flow = &flows[i]
			}
		}
		switch {
		case flow == nil:
			misconfigured("FlexFlowSID %s is not a Flex Flow of account %s (%s)", c.cfg.FlexFlowSID, c.cfg.AccountSID, describeFlows(flows))
		case c.flowProblem(flow) != "":
			misconfigured("%s", c.flowProblem(flow))
		}
	}

	if _, err := call(ctx, c, bc, "fetch chat service", func() (*chatv2.ChatV2Service, error) {
		return rest.ChatV2.FetchService(c.cfg.ChatServiceSID)
	}); err != nil {
		return failed(err, fmt.Sprintf("ChatServiceSID %s: no such Programmable Chat service (Twilio ended Programmable Chat for Flex on 2026-06-01: use conversations mode)", c.cfg.ChatServiceSID))
	}
	return nil
}
