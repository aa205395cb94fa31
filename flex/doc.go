// Package flex binds a verified customer to a Twilio Flex chat, in both kinds
// of Flex account:
//
//   - conversations mode (current Flex): Flex API v2 WebChats on the web chat
//     Conversations Address, the verification summary in the conversation's
//     and the customer participant's attributes, Conversations access tokens;
//   - Flex Flow mode (legacy Flex, for accounts that still have Programmable
//     Chat): a web Flex Flow, Flex API v1 Channels whose pre-engagement data
//     becomes the task's attributes, Chat access tokens.
//
// OpenChat is idempotent per session (ChatRequest.IdempotencyKey) and never
// adopts an earlier session's chat; it retries Twilio's temporary failures
// with backoff and jitter, honouring Retry-After, within a bounded time, and
// every call goes through a circuit breaker. Check validates a live account
// at startup. WebhookVerifier and ParseWebhook take Twilio's webhooks
// (X-Twilio-Signature, replays) and say when a chat closed. Setup installs
// the Studio flow this package ships (flex/studio) on the web chat address,
// so that the agent's task, which Flex creates on the customer's first
// message, carries the customer's name and verification summary.
//
// Every call to Twilio goes through the official twilio-go client;
// [BaseClient] gives that client our *http.Client, our credentials and, in
// development and tests, a base URL that points it at the local emulator in
// package flex/emulator.
//
// The package knows Twilio and nothing about the product's domain: it must not
// import broker, api or identity. The broker declares the interface it needs
// and a *Client satisfies it. Configuration arrives as a [Config] value; the
// package never reads the environment, and never logs a secret or a claim.
package flex
