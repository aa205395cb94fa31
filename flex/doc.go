// Package flex binds a verified customer to a Twilio Flex chat.
//
// It opens Conversations-based Flex web chats (Flex API v2 WebChats) whose
// conversation attributes carry the verification summary, and mints the
// Conversations access tokens the customer's chat client uses. Every call to
// Twilio goes through the official twilio-go client; [BaseClient] gives that
// client our *http.Client, our credentials and, in development and tests, a
// base URL that points it at the local emulator in package flex/emulator.
//
// The package knows Twilio and nothing about the product's domain: it must not
// import broker, api or identity. The broker declares the interface it needs
// and a *Client satisfies it. Configuration arrives as a [Config] value; the
// package never reads the environment.
package flex
