// Package broker is the product's domain: verification sessions, verified identities, their
// binding to a contact-centre chat, and the events and webhooks every transition emits.
//
// broker speaks its own language. It knows nothing of HTTP, DIDComm, Redis or Twilio: it
// declares what it needs from the world as small interfaces in its own words — Store and
// Events (store.go, events.go), Wallets and Verifier (wallet.go), Chats (binding.go),
// WebhookSender (webhooks.go) — and adapters below it implement them: broker/boltstore and
// broker/redisstore the store, broker/wallets the DIDComm agent and the credential verifier
// (identity/didcomm, identity), broker/chats the Flex client (flex). A test keeps
// aries-framework-go and twilio-go out of its dependencies.
//
// The files follow the customer:
//
//   - sessions.go: a session is created, read and watched.
//   - wallet.go: the wallet's path, top to bottom — the invitation answered (Connected), the
//     presentation request, the presentation and its Verdict (returned to the agent, which
//     answers the wallet), a wallet's problem report, a returning customer's re-verification.
//   - binding.go: a verified session's chat — opened in the background and retried, the
//     summary the agent sees, the customer's chat token, the chat's end.
//   - identities.go and identitycache.go: the CRM's view of verified customers, and erasure.
//   - webhooks.go and outbox.go: the CRM's webhooks, queued in the same store step as the
//     transition they announce and delivered by their own runner.
//
// Every decision is an atomic store transition (Store.Transition), so replicas sharing a
// store never decide twice.
package broker
