package flex_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
)

// Opening a verified chat and minting the customer's token, against the
// local Twilio emulator (as in development mode; in production BaseURL is
// empty and the same calls reach Twilio).
func Example() {
	dev := emulator.DevConfig()
	emu := emulator.New(dev)
	mux := http.NewServeMux()
	mux.Handle(emulator.PathPrefix, emu)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	client, err := flex.New(flex.Config{
		AccountSID:              dev.AccountSID,
		AuthToken:               dev.AuthToken,
		APIKeySID:               dev.APIKeySID,
		APIKeySecret:            dev.APIKeySecret,
		AddressSID:              dev.AddressSID,
		ConversationsServiceSID: dev.ConversationsServiceSID,
		BaseURL:                 srv.URL + "/_twilio",
		HTTPClient:              &http.Client{Timeout: 5 * time.Second},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	chat, err := client.OpenChat(context.Background(), flex.ChatRequest{
		Identity:             "hr_EXAMPLEPSEUDONYM",
		CustomerFriendlyName: "Verified customer",
		ChatFriendlyName:     "Verified chat",
		Attributes:           map[string]any{"verified": true, "issuer": "Example Bank"},
		IdempotencyKey:       "01SESSIONID",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("identity:", chat.Identity)
	fmt.Println("conversation:", strings.HasPrefix(chat.ConversationSID, "CH"))
	for _, r := range emu.Requests() {
		fmt.Println(r.Operation)
	}

	// Opening it again (say, a retried bind) finds the same chat.
	again, _ := client.OpenChat(context.Background(), flex.ChatRequest{Identity: "hr_EXAMPLEPSEUDONYM", IdempotencyKey: "01SESSIONID"})
	fmt.Println("same chat:", again.ConversationSID == chat.ConversationSID, "reused:", again.Reused)

	_, expiresAt, err := client.Token(chat.Identity, 10*time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("token expires in:", time.Until(expiresAt).Round(time.Minute))

	// Output:
	// identity: hr_EXAMPLEPSEUDONYM
	// conversation: true
	// ListParticipantConversation
	// CreateWebChannel
	// FetchConversation
	// UpdateConversation
	// ListConversationParticipant
	// UpdateConversationParticipant
	// same chat: true reused: true
	// token expires in: 10m0s
}

// Verifying a Twilio webhook behind a proxy: the signature covers the public
// URL Twilio called, whatever host the request reached.
func ExampleWebhookVerifier() {
	const authToken = "devAuthTokenPublicNotSecret00000"
	verifier, err := flex.NewWebhookVerifier(flex.WebhookConfig{AuthToken: authToken, PublicURL: "https://broker.example.com"})
	if err != nil {
		fmt.Println(err)
		return
	}
	form := url.Values{
		"EventType":       {"onConversationStateUpdated"},
		"ConversationSid": {"CH00000000000000000000000000000001"},
		"StateFrom":       {"active"},
		"StateTo":         {"closed"},
	}
	signature := flex.SignWebhook(authToken, "https://broker.example.com/v1/twilio/conversations", form)

	deliver := func() {
		// As the proxy forwards it: another host, the same path.
		r := httptest.NewRequest(http.MethodPost, "http://10.0.0.7:8080/v1/twilio/conversations", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set(flex.SignatureHeader, signature)
		r.Header.Set(flex.IdempotencyTokenHeader, "idem-1")
		body, err := verifier.Verify(r, time.Now())
		if errors.Is(err, flex.ErrWebhookDuplicate) {
			fmt.Println("already accepted: acknowledge (200), do not process again")
			return
		}
		if err != nil {
			fmt.Println("rejected:", err)
			return
		}
		ev, err := flex.ParseWebhook(r.Header.Get("Content-Type"), body)
		fmt.Println(ev.Type, ev.ChatSID(), "closed:", ev.Closed, err)
	}
	deliver()
	deliver() // the same delivery again

	// Output:
	// onConversationStateUpdated CH00000000000000000000000000000001 closed: true <nil>
	// already accepted: acknowledge (200), do not process again
}
