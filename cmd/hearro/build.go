package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hyperledger/aries-framework-go/pkg/secretlock"
	"github.com/hyperledger/aries-framework-go/pkg/secretlock/local"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/wallets"
	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/didcomm"
	"github.com/hearro/trustbroker/identity/outbound"
	"github.com/hearro/trustbroker/identity/status"
	"github.com/hearro/trustbroker/internal/demo/issuer"
)

// The builders of startService, in the order it calls them. Each takes parsed settings and
// the parts built before it, and returns what it built.

// listen returns the service's listener (ln, or one on --addr) and its public URL.
func listen(set settings, ln net.Listener) (net.Listener, string, error) {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", set.Addr); err != nil {
			return nil, "", fmt.Errorf("listen on %s: %w (is another hearro running? set --addr)", set.Addr, err)
		}
	}
	if set.publicURL != "" {
		return ln, set.publicURL, nil
	}
	return ln, fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port), nil
}

// remoteClient is the one client for everything fetched from a URL a stranger may choose: it
// connects only to public addresses and the networks configuration allows.
func remoteClient(set settings) *http.Client {
	return outbound.New(outbound.Config{Timeout: set.RemoteTimeout, Allow: set.outboundAllow})
}

// buildAgent opens the DIDComm agent wallets talk to. Its private keys are locked with the
// master key; what it sends goes through the outbound guard.
func buildAgent(set settings, publicURL string, b *backend, loader *identity.ContextLoader, log *slog.Logger) (*didcomm.Agent, error) {
	lock, created, err := masterLock(set.masterKey, set.DataDir)
	if err != nil {
		return nil, err
	}
	if created {
		log.Warn("DEVELOPMENT MODE: generated the DIDComm agent's master key into " + filepath.Join(set.DataDir, "master.key") + "; set --master-key in production")
	}
	didcomm.RouteFrameworkLogs(log)
	label := set.Label
	if set.Dev {
		label += " (development)"
	}
	// A wallet names the endpoint the agent answers to, so its messages go through the same
	// guard as every fetch; in development the demo wallet listens on loopback.
	walletNets := set.outboundAllow
	if set.Dev {
		walletNets = append(slices.Clone(walletNets), netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128"))
	}
	return didcomm.New(didcomm.Config{
		Endpoint: publicURL + "/didcomm", Label: label, Storage: b.agent,
		SecretLock: lock, Loader: loader, Logger: log,
		HTTPClient: outbound.New(outbound.Config{Timeout: 10 * time.Second, Allow: walletNets}),
	})
}

// masterLock returns the secret lock of an agent's keys: from key, or (nil) from a key
// generated once into dir/master.key. created reports a newly generated key.
func masterLock(key []byte, dir string) (lock secretlock.Service, created bool, err error) {
	if key == nil {
		if key, created, err = keyFile(filepath.Join(dir, "master.key")); err != nil {
			return nil, false, fmt.Errorf("master key: %w", err)
		}
	}
	// The local lock takes its key base64url-encoded.
	lock, err = local.NewService(strings.NewReader(base64.URLEncoding.EncodeToString(key)), nil)
	return lock, created, err
}

// buildVerifier returns the broker's verifier of presentations and the policies it applies.
// remote fetches DID documents and status lists.
func buildVerifier(set settings, b *backend, loader *identity.ContextLoader, remote *http.Client) (*wallets.Verifier, map[string]broker.Policy, error) {
	resolver, err := identity.NewResolver(identity.ResolverConfig{
		WebClient: remote, UniversalResolverURL: set.UniversalResolverURL, UniversalClient: remote,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("DID resolution: %w", err)
	}
	statusLists, err := status.NewFetcher(status.Config{Client: remote})
	if err != nil {
		return nil, nil, fmt.Errorf("status lists: %w", err)
	}
	verifier, err := identity.NewVerifier(identity.VerifierConfig{Loader: loader, Resolver: resolver, Status: statusLists, Replay: b.replay})
	if err != nil {
		return nil, nil, err
	}
	policies, err := loadPolicies(set.serveConfig)
	if err != nil {
		return nil, nil, err
	}
	brokerPolicies, err := wallets.Policies(policies)
	if err != nil {
		return nil, nil, err
	}
	return wallets.NewVerifier(verifier, policies), brokerPolicies, nil
}

// loadPolicies returns the verification policies: the policy file's, and in development mode
// the built-in development policy as "default" unless the file has its own.
func loadPolicies(cfg serveConfig) (map[string]*identity.Policy, error) {
	policies := map[string]*identity.Policy{}
	if cfg.PolicyFile != "" {
		var err error
		if policies, err = identity.LoadPolicies(cfg.PolicyFile); err != nil {
			return nil, fmt.Errorf("--policy-file: %w", err)
		}
	}
	if _, ok := policies[identity.DevelopmentPolicyName]; cfg.Dev && !ok {
		p := identity.DevelopmentPolicy(issuer.DevelopmentDID())
		// The development issuer signs BBS+ credentials with a key of its own.
		p.TrustedIssuers = append(p.TrustedIssuers, issuer.DevelopmentBBSDID())
		p.IssuerNames[issuer.DevelopmentBBSDID()] = p.IssuerNames[issuer.DevelopmentDID()]
		policies[p.Name] = p
	}
	if _, ok := policies[cfg.DefaultPolicy]; !ok {
		return nil, fmt.Errorf("--default-policy %q is not a policy (have %s)", cfg.DefaultPolicy, strings.Join(slices.Sorted(maps.Keys(policies)), ", "))
	}
	return policies, nil
}

// buildBroker returns the broker: sessions, identities and CRM webhooks, on the backend. An
// erasure reaches the contact centre when the store keeps erasure records and the chats can
// erase (both shipped stores and the Flex chats do).
func buildBroker(set settings, publicURL string, b *backend, wallet broker.Wallets, verifier broker.Verifier,
	policies map[string]broker.Policy, chats broker.Chats, log *slog.Logger) (*broker.Service, error) {
	erasures, _ := b.store.(broker.Erasures)
	eraser, _ := chats.(broker.ChatEraser)
	return broker.New(broker.Config{
		Domain: publicURL, Policies: policies, DefaultPolicy: set.DefaultPolicy,
		PseudonymKey: b.pseudonymKey, SessionTTL: set.SessionTTL, ChatTokenTTL: set.ChatTokenTTL, Logger: log,
		BindRetryFor:     set.ChatRetryFor,
		IdentityCacheTTL: set.IdentityCacheTTL,
		Webhooks:         broker.WebhookConfig{Endpoints: set.WebhookURLs, MaxAttempts: set.WebhookMaxAttempts},
	}, broker.Deps{Store: b.store, Events: b.events, Wallets: wallet, Verifier: verifier, Chats: chats,
		Outbox: b.outbox, Sender: api.NewWebhookSender(b.signing, &http.Client{Timeout: 15 * time.Second}),
		Erasures: erasures, ChatEraser: eraser, Meter: b.metrics})
}

// buildHTTP returns the HTTP server of the REST API, the DIDComm endpoint (inbox), Twilio's
// webhooks and, in development, the Twilio emulator; and the CRM's access tokens. remote
// fetches an external identity provider's keys.
func buildHTTP(set settings, publicURL string, b *backend, brk *broker.Service, inbox api.Inbox,
	twilio twilioTarget, webhooks api.Webhooks, remote *http.Client, log *slog.Logger) (*http.Server, *api.AccessTokens, error) {
	tokens, err := api.NewSessionTokens(publicURL, b.tokenSeed)
	if err != nil {
		return nil, nil, err
	}
	clients, err := loadOAuthClients(set.OAuthClientsFile)
	if err != nil {
		return nil, nil, err
	}
	external, err := externalIssuer(context.Background(), set.OAuthJWKSURL, set.OAuthIssuer, set.OAuthAudience, set.OAuthMaxLifetime, remote)
	if err != nil {
		return nil, nil, err
	}
	twilioAPI, err := twilio.handler()
	if err != nil {
		return nil, nil, err
	}
	access := api.NewAccessTokens(b.signing, publicURL, set.OAuthAudience, external)
	// The Flex plugin's route checks agents' Flex tokens with Twilio (or the emulator the
	// chats go to), with the same account.
	agentTokens, err := flex.NewTokenValidator(twilio.client)
	if err != nil {
		return nil, nil, fmt.Errorf("twilio configuration: %w", err)
	}
	flexOrigins := set.flexOrigins
	if len(flexOrigins) == 0 && set.Dev {
		flexOrigins = []string{publicURL, "https://flex.twilio.com"}
	}
	handler := api.New(api.Config{
		PublicURL: publicURL, Tokens: tokens, DIDComm: inbox, Ready: b.ping, Logger: log,
		AccessTokens: access, OAuthClients: clients, AccessTokenTTL: set.AccessTokenTTL,
		TrustedProxies: set.trustedProxies, SessionLimiter: b.limiter, Twilio: twilioAPI, Webhooks: webhooks,
		AgentTokens: agentTokens, FlexOrigins: flexOrigins, Metrics: b.metrics,
	}, brk)
	baseCtx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return baseCtx },
	}
	// Event streams never end by themselves: end them as soon as shutdown begins, so it
	// waits only for ordinary requests and in-flight DIDComm exchanges.
	srv.RegisterOnShutdown(cancel)
	return srv, access, nil
}

// logStart says what the service serves, and warns of what must not run in production.
func logStart(set settings, s *service, twilio twilioTarget) {
	if set.Dev {
		s.log.Warn("DEVELOPMENT MODE: the development issuer "+issuer.DevelopmentDID()+" is TRUSTED. Its private key is published; "+
			"anyone can issue credentials it signs. Never run development mode in production.",
			"development_issuer", issuer.DevelopmentDID())
	}
	twilio.logTarget(s.log, s.publicURL)
	store := "embedded:" + filepath.Join(set.DataDir, "hearro.db")
	if set.redis != "" {
		store = fmt.Sprintf("redis (%v)", set.redis)
	}
	s.log.Info("hearro serving", "addr", s.listener.Addr().String(), "public_url", s.publicURL,
		"didcomm_endpoint", s.publicURL+"/didcomm", "store", store, "development", set.Dev)
}

func randomBytes(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		_, err := rand.Read(b)
		return b, err
	}
}
