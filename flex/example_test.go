package flex_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
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
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("identity:", chat.Identity)
	fmt.Println("conversation:", strings.HasPrefix(chat.ConversationSID, "CH"))
	for _, r := range emu.Requests() {
		fmt.Println(r.Method, strings.Replace(r.Path, chat.ConversationSID, "{sid}", 1))
	}

	_, expiresAt, err := client.Token(chat.Identity, 10*time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("token expires in:", time.Until(expiresAt).Round(time.Minute))

	// Output:
	// identity: hr_EXAMPLEPSEUDONYM
	// conversation: true
	// POST /_twilio/flex-api/v2/WebChats
	// GET /_twilio/conversations/v1/Conversations/{sid}
	// POST /_twilio/conversations/v1/Conversations/{sid}
	// token expires in: 10m0s
}
