package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/chats"
	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// twilioTarget is where chats go: Twilio, a shared emulator at --twilio-api-url, or the
// built-in emulator. chooseTwilio decides it; everything else reads it.
type twilioTarget struct {
	// client is the flex client's configuration: account, keys, SIDs and BaseURL (empty:
	// Twilio itself).
	client flex.Config
	// builtIn is the built-in emulator, served under /_twilio/ by this service.
	builtIn *emulator.Emulator
	// shared: an emulator at --twilio-api-url with its development account (several
	// development replicas share one), reached through this service's /_twilio/.
	shared bool
}

// chooseTwilio decides where chats go. In development without a Twilio account they go to an
// emulator with its published development account: the built-in one (its webhooks and its
// API reached through loopback, this service's own listener) or a shared one at
// --twilio-api-url. Otherwise they go to the configured account, at --twilio-api-url if set.
func chooseTwilio(set settings, publicURL, loopback string, log *slog.Logger) twilioTarget {
	t := twilioTarget{client: flex.Config{
		Mode:       set.flexMode,
		AccountSID: set.TwilioAccountSID, AuthToken: set.TwilioAuthToken,
		APIKeySID: set.TwilioAPIKey, APIKeySecret: set.TwilioAPISecret,
		AddressSID: set.TwilioAddressSID, ConversationsServiceSID: set.TwilioConversationsServiceSID,
		FlexFlowSID: set.TwilioFlexFlowSID, ChatServiceSID: set.TwilioChatServiceSID,
		WorkspaceSID:      set.TwilioWorkspaceSID,
		ChatInactiveAfter: set.ChatInactiveAfter, ChatCloseAfter: set.ChatCloseAfter,
		BaseURL: set.TwilioAPIURL, Logger: log, Retry: flex.Retry{Total: set.TwilioRetryTotal},
	}}
	if !set.Dev || set.TwilioAccountSID != "" {
		return t
	}
	dev := devEmulatorConfig()
	if set.TwilioAPIURL == "" {
		dev.ConversationsWebhookURL = publicURL + "/v1/twilio/conversations"
		dev.ChatWebhookURL = publicURL + "/v1/twilio/chat"
		dev.WebhookDeliveryBase = loopback
		t.builtIn = emulator.New(dev)
		t.client.BaseURL = loopback + "/_twilio"
	} else {
		t.shared = true
	}
	c := &t.client
	c.AccountSID, c.AuthToken, c.APIKeySID, c.APIKeySecret = dev.AccountSID, dev.AuthToken, dev.APIKeySID, dev.APIKeySecret
	c.AddressSID, c.ConversationsServiceSID = dev.AddressSID, dev.ConversationsServiceSID
	c.FlexFlowSID, c.ChatServiceSID = dev.FlexFlowSID, dev.ChatServiceSID
	c.WorkspaceSID = dev.WorkspaceSID
	return t
}

// buildTwilio returns the broker's chats on the target and the checker of the target's
// webhooks (nil: none, for want of an Auth Token).
func buildTwilio(ctx context.Context, t twilioTarget, publicURL string, replay flex.ReplayGuard, log *slog.Logger) (broker.Chats, api.Webhooks, error) {
	client, err := flex.New(t.client)
	if err != nil {
		return nil, nil, fmt.Errorf("twilio configuration: %w", err)
	}
	if t.builtIn == nil {
		// Twilio (or a shared emulator) must know the address or flow: say so now, by name,
		// rather than at the first customer's chat. The built-in emulator is not serving yet.
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := client.Check(cctx)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("twilio configuration: %w", err)
		}
	}
	if t.client.AuthToken == "" {
		log.Warn("Twilio webhooks are off: they are signed with the account's Auth Token, and none is configured; closed chats will not close their sessions")
		return chats.New(client), nil, nil
	}
	webhooks, err := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: t.client.AuthToken, PublicURL: publicURL, Replay: replay})
	if err != nil {
		return nil, nil, fmt.Errorf("Twilio webhooks: %w", err)
	}
	return chats.New(client), webhooks, nil
}

// handler is what this service serves under /_twilio/: the built-in emulator, or a proxy to a
// shared one, so that the chat page and the agent view reach either through this origin.
// nil: Twilio itself (or an emulator with a real account's settings), not served here.
func (t twilioTarget) handler() (http.Handler, error) {
	switch {
	case t.builtIn != nil:
		return t.builtIn, nil
	case t.shared:
		return emulatorProxy(t.client.BaseURL)
	}
	return nil, nil
}

// logTarget says where chats go, unless it is Twilio.
func (t twilioTarget) logTarget(log *slog.Logger, publicURL string) {
	if t.builtIn != nil {
		log.Warn("DEVELOPMENT MODE: chats go to the built-in Twilio emulator at " + publicURL + "/_twilio/, not to Twilio")
	} else if t.client.BaseURL != "" {
		log.Warn("chats go to the Twilio API emulator at " + t.client.BaseURL + ", not to Twilio")
	}
}

// emulatorProxy forwards /_twilio/… to a Twilio emulator served elsewhere (--twilio-api-url).
func emulatorProxy(base string) (http.Handler, error) {
	target, err := url.Parse(base)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("--twilio-api-url %q is not a URL", base)
	}
	return &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path = strings.TrimSuffix(target.Path, "/") + strings.TrimPrefix(r.In.URL.Path, "/_twilio")
		r.Out.URL.RawPath = ""
		r.Out.Host = r.In.Host // the browser's origin: the emulator's agent view checks it
	}}, nil
}

// loopbackURL is how the service reaches its own listener (for the Twilio emulator).
func loopbackURL(ln net.Listener) string {
	addr := ln.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(addr.Port))
}
