package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"

	"github.com/hearro/trustbroker/api"
	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/wallets"
	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/flex/emulator"
	"github.com/hearro/trustbroker/identity"
	"github.com/hearro/trustbroker/identity/didcomm"
)

// serveConfig is every setting of `hearro serve`. Flags and their environment twins are
// declared in newServeCmd; Validate runs before anything is built.
type serveConfig struct {
	Addr            string
	PublicURL       string
	DataDir         string
	Dev             bool
	Label           string
	MasterKey       string
	SessionTTL      time.Duration
	ChatTokenTTL    time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string
	LogFormat       string
	AdminAddr       string

	RedisURL    string
	RedisPrefix string

	PolicyFile           string
	DefaultPolicy        string
	UniversalResolverURL string
	RemoteTimeout        time.Duration
	// OutboundAllowNetworks are networks the outbound client may reach although they are
	// not public (an in-cluster Universal Resolver or identity provider; loopback in tests).
	OutboundAllowNetworks []string

	WebhookURLs        []string
	WebhookMaxAttempts int

	OAuthClientsFile string
	OAuthJWKSURL     string
	OAuthIssuer      string
	OAuthAudience    string
	OAuthMaxLifetime time.Duration
	AccessTokenTTL   time.Duration
	SessionRate      int
	SessionBurst     int
	TrustedProxies   []string
	FlexOrigins      []string

	FlexMode                      string
	TwilioRetryTotal              time.Duration
	ChatRetryFor                  time.Duration
	IdentityCacheTTL              time.Duration
	TwilioAPIURL                  string
	TwilioAccountSID              string
	TwilioAuthToken               string
	TwilioAPIKey                  string
	TwilioAPISecret               string
	TwilioAddressSID              string
	TwilioConversationsServiceSID string
	TwilioFlexFlowSID             string
	TwilioChatServiceSID          string
	TwilioWorkspaceSID            string
	ChatInactiveAfter             time.Duration
	ChatCloseAfter                time.Duration
}

func newServeCmd() *cobra.Command {
	var cfg serveConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the trust broker (development mode, embedded store and Twilio emulator by default)",
		Long: `Run the trust broker: the REST API, the DIDComm endpoint wallets talk to, and (in
development mode without a Twilio account) the built-in Twilio API emulator.

Every flag has an environment twin, HEARRO_<FLAG_NAME>, e.g. HEARRO_PUBLIC_URL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(cmd.ErrOrStderr(), cfg.LogLevel, cfg.LogFormat)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runServe(ctx, cfg, nil, log)
		},
	}
	serveFlags(cmd.Flags(), &cfg)
	withEnv(cmd, "HEARRO_")
	return cmd
}

// serveFlags declares every serve setting once: flag name, default and help (the
// environment twin follows from the name).
func serveFlags(f *pflag.FlagSet, cfg *serveConfig) {
	f.StringVar(&cfg.Addr, "addr", ":8080", "listen address")
	f.StringVar(&cfg.PublicURL, "public-url", "", "URL wallets, browsers and Twilio reach this service at; used in invitations and the DIDComm endpoint (default http://localhost:<port of --addr>)")
	f.StringVar(&cfg.DataDir, "data-dir", "./data", "directory of the embedded store (without --redis-url)")
	f.StringVar(&cfg.RedisURL, "redis-url", "", "Redis for several replicas: redis://, rediss://, redis+sentinel://…?master_name=, redis+cluster://… (empty: the embedded store)")
	f.StringVar(&cfg.RedisPrefix, "redis-prefix", "hearro", "prefix of every key in Redis (several deployments can share one Redis)")
	f.BoolVar(&cfg.Dev, "dev", true, "development mode: trust the published development issuer, use the Twilio emulator when no Twilio account is set (the CRM API still needs a token: hearro token)")
	f.StringVar(&cfg.Label, "label", "HearRo Trust Broker", "name wallets show for this service")
	f.StringVar(&cfg.MasterKey, "master-key", "", "base64 32-byte key encrypting the DIDComm agent's private keys at rest (development: generated into the data dir)")
	f.DurationVar(&cfg.SessionTTL, "session-ttl", 10*time.Minute, "how long a verification session may take to reach a chat")
	f.DurationVar(&cfg.ChatTokenTTL, "chat-token-ttl", time.Hour, "life of the customer's chat access token")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long to drain requests and event streams on SIGTERM")
	f.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.StringVar(&cfg.LogFormat, "log-format", "json", "log format: json or text")
	f.StringVar(&cfg.AdminAddr, "admin-addr", "", "listen address of the operations surface, never the public port: Prometheus metrics at /metrics and the Go profiler at /debug/pprof/, e.g. 127.0.0.1:9090 (empty: off)")
	f.StringVar(&cfg.PolicyFile, "policy-file", "", "YAML file of verification policies (trusted issuers per credential type, claims, formats, status checks); development mode adds its own 'default' policy unless the file defines one")
	f.StringVar(&cfg.DefaultPolicy, "default-policy", identity.DevelopmentPolicyName, "policy of sessions that do not name one")
	f.StringVar(&cfg.UniversalResolverURL, "universal-resolver-url", "", "Universal Resolver for DID methods not resolved locally (e.g. did:sov, did:indy), e.g. https://resolver.example.com")
	f.DurationVar(&cfg.RemoteTimeout, "remote-timeout", 5*time.Second, "timeout of each did:web, Universal Resolver, status list and JWKS request")
	f.StringSliceVar(&cfg.OutboundAllowNetworks, "outbound-allow-networks", nil, "networks (CIDRs or addresses) that did:web, status list, Universal Resolver and JWKS fetches and DIDComm messages to wallets may reach although they are not public, e.g. an in-cluster resolver's 10.8.0.0/16; every other loopback, private, link-local or CGNAT address is refused (development mode adds loopback for DIDComm, where the demo wallet listens)")
	f.StringSliceVar(&cfg.WebhookURLs, "webhook-url", nil, "CRM endpoint(s) that receive signed events (identity.verified, session.rejected, identity.erased, …); repeat or comma-separate")
	f.IntVar(&cfg.WebhookMaxAttempts, "webhook-max-attempts", 12, "delivery attempts (exponential backoff, about a day for 12) before a webhook becomes a dead letter")
	f.StringVar(&cfg.OAuthClientsFile, "oauth-clients-file", "", "YAML file of the CRM clients allowed to use POST /oauth/token (ids, bcrypt-hashed secrets, scopes)")
	f.StringVar(&cfg.OAuthJWKSURL, "oauth-jwks-url", "", "JWKS URL of an external identity provider whose access tokens the CRM API also accepts")
	f.StringVar(&cfg.OAuthIssuer, "oauth-issuer", "", "issuer (iss) of the external identity provider's tokens")
	f.StringVar(&cfg.OAuthAudience, "oauth-audience", api.DefaultAudience, "audience (aud) every CRM access token must carry")
	f.DurationVar(&cfg.OAuthMaxLifetime, "oauth-max-token-lifetime", api.DefaultMaxExternalTokenLifetime, "longest life (exp - iat, or exp - now without iat) of an external identity provider's access token; tokens without exp are refused")
	f.DurationVar(&cfg.AccessTokenTTL, "access-token-ttl", api.DefaultAccessTokenTTL, "life of access tokens from POST /oauth/token")
	f.IntVar(&cfg.SessionRate, "session-rate", 30, "sessions a client IP (or CRM client) may start per minute; 0: unlimited")
	f.IntVar(&cfg.SessionBurst, "session-burst", 10, "sessions a client IP (or CRM client) may start at once")
	f.StringSliceVar(&cfg.FlexOrigins, "flex-origins", nil, "origins of the Flex UI (e.g. https://flex.twilio.com) whose plugins may call the agent route GET /v1/agent/chats/{chat_sid}/verification from the browser (CORS), comma-separated; development default: this service's own origin (the emulator's agent view) and https://flex.twilio.com")
	f.StringSliceVar(&cfg.TrustedProxies, "trusted-proxies", nil, "CIDRs of reverse proxies whose X-Forwarded-For is trusted for the client IP")
	f.StringVar(&cfg.FlexMode, "flex-mode", "conversations", "which Flex: conversations (current Flex, web chats on Conversations) or flexflow (legacy Flex Flow with Programmable Chat)")
	f.DurationVar(&cfg.ChatInactiveAfter, "chat-inactive-after", 30*time.Minute, "the conversation timer that makes a chat inactive after this long without a message (Twilio's minimum: 1m)")
	f.DurationVar(&cfg.ChatCloseAfter, "chat-close-after", 24*time.Hour, "the conversation timer that closes a chat, and so its session, after this long without a message (Twilio's minimum: 10m; longer than --chat-inactive-after)")
	f.DurationVar(&cfg.TwilioRetryTotal, "twilio-retry-total", flex.DefaultRetryTotal, "how long one attempt to open a chat may retry Twilio's 429/5xx answers (backoff with jitter; Retry-After honoured)")
	f.DurationVar(&cfg.IdentityCacheTTL, "identity-cache-ttl", time.Second, "how long a replica may keep an identity the CRM read in memory (changes and erasures drop it at once, on every replica); 0 reads the store every time")
	f.DurationVar(&cfg.ChatRetryFor, "chat-retry-for", 2*time.Minute, "how long a verified session keeps trying, in the background, to open its chat after Twilio failed (then the service's sweep tries again while the session waits)")
	f.StringVar(&cfg.TwilioAPIURL, "twilio-api-url", "", "root of a Twilio API emulator to use instead of Twilio, e.g. http://emulator:8081/_twilio (development: the built-in one when no Twilio account is set)")
	f.StringVar(&cfg.TwilioAccountSID, "twilio-account-sid", "", "Twilio Account SID (AC…); empty in development: the built-in emulator")
	f.StringVar(&cfg.TwilioAuthToken, "twilio-auth-token", "", "Twilio Auth Token (or use the API key for REST calls)")
	f.StringVar(&cfg.TwilioAPIKey, "twilio-api-key", "", "Twilio API Key SID (SK…) that signs customer access tokens")
	f.StringVar(&cfg.TwilioAPISecret, "twilio-api-secret", "", "Twilio API Key secret")
	f.StringVar(&cfg.TwilioAddressSID, "twilio-address-sid", "", "Flex web chat Conversations Address SID (IG…)")
	f.StringVar(&cfg.TwilioConversationsServiceSID, "twilio-conversations-service-sid", "", "Conversations Service SID (IS…) of the customer's chat token (conversations mode)")
	f.StringVar(&cfg.TwilioFlexFlowSID, "twilio-flex-flow-sid", "", "Flex Flow SID (FO…) of an enabled web flow (flexflow mode)")
	f.StringVar(&cfg.TwilioChatServiceSID, "twilio-chat-service-sid", "", "Programmable Chat Service SID (IS…, the Flex Chat Service) of the customer's token (flexflow mode)")
	f.StringVar(&cfg.TwilioWorkspaceSID, "twilio-workspace-sid", "", "TaskRouter workspace SID (WS…, \"Flex Task Assignment\") of the Flex tasks: erasure finds a chat's tasks there, and without it leaves them as they are (development: the emulator's)")
}

// service is a running broker: everything runServe builds, so it can also be started in tests.
type service struct {
	cfg       serveConfig
	log       *slog.Logger
	publicURL string
	listener  net.Listener
	backend   *backend
	agent     *didcomm.Agent
	broker    *broker.Service
	emulator  *emulator.Emulator // the built-in Twilio emulator; nil: Twilio or a shared emulator
	access    *api.AccessTokens
	http      *http.Server
	admin     *adminListener // nil: no --admin-addr

	// running owns every long-running part: the HTTP server and the broker's own work
	// (broker.Run, until stopRun).
	running  *errgroup.Group
	stopRun  context.CancelFunc
	stopOnce sync.Once
}

// runServe starts the service on ln (or on cfg.Addr if ln is nil) and serves until ctx ends.
func runServe(ctx context.Context, cfg serveConfig, ln net.Listener, log *slog.Logger) error {
	svc, err := startService(cfg, ln, log)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- svc.serve() }()
	select {
	case err := <-errc:
		svc.shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain_timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return svc.shutdown(sctx)
}

// startService builds the service of cfg and starts it on ln (or on cfg.Addr if ln is nil).
// If it fails, it closes again what it had built.
func startService(cfg serveConfig, ln net.Listener, log *slog.Logger) (_ *service, err error) {
	set, err := cfg.parse()
	if err != nil {
		return nil, fmt.Errorf("configuration:\n%w", err)
	}
	s := &service{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			s.shutdown(context.Background())
		}
	}()
	if s.listener, s.publicURL, err = listen(set, ln); err != nil {
		return nil, err
	}
	ctx := context.Background()
	if s.backend, err = openBackend(ctx, set, log); err != nil {
		return nil, err
	}
	s.backend.measure(newMetrics())
	if s.admin, err = listenAdmin(set, s.backend.metrics); err != nil {
		return nil, err
	}
	loader, err := identity.NewContextLoader()
	if err != nil {
		return nil, err
	}
	remote := remoteClient(set)
	if s.agent, err = buildAgent(set, s.publicURL, s.backend, loader, log); err != nil {
		return nil, err
	}
	verifier, policies, err := buildVerifier(set, s.backend, loader, remote)
	if err != nil {
		return nil, err
	}
	twilio := chooseTwilio(set, s.publicURL, loopbackURL(s.listener), log)
	twilio.client.Meter = s.backend.metrics
	s.emulator = twilio.builtIn
	chats, webhooks, err := buildTwilio(ctx, twilio, s.publicURL, s.backend.webhookReplay, log)
	if err != nil {
		return nil, err
	}
	if s.broker, err = buildBroker(set, s.publicURL, s.backend, wallets.NewAgent(s.agent), verifier, policies, chats, log); err != nil {
		return nil, err
	}
	inbox := wallets.Serve(s.agent, s.broker) // from here on the agent hands wallets' messages to the broker
	if s.http, s.access, err = buildHTTP(set, s.publicURL, s.backend, s.broker, inbox, twilio, webhooks, remote, log); err != nil {
		return nil, err
	}
	s.start()
	logStart(set, s, twilio)
	return s, nil
}

// start hands every long-running part to one errgroup: the HTTP server and the broker's own
// work. If the HTTP server fails, the broker's work stops and serve returns the failure.
func (s *service) start() {
	ctx, cancel := context.WithCancel(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	s.running, s.stopRun = g, cancel
	g.Go(func() error { return s.broker.Run(ctx) })
	g.Go(s.admin.serve)
	g.Go(func() error {
		if err := s.http.Serve(s.listener); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// serve waits until the service has stopped, by shutdown or because its HTTP server failed;
// it returns that failure.
func (s *service) serve() error {
	return s.running.Wait()
}

// shutdown stops taking requests, ends event streams, waits for in-flight work and closes
// the stores. It is safe on a partly started service, and calls after the first do nothing.
func (s *service) shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() { err = s.stop(ctx) })
	return err
}

// stop stops the parts in order: the HTTP server (requests drained, event streams ended),
// the broker's own work, the broker's chat binds, the DIDComm agent, the stores.
func (s *service) stop(ctx context.Context) error {
	var errs []error
	if s.running != nil {
		errs = append(errs, s.http.Shutdown(ctx))
		errs = append(errs, s.admin.shutdown(ctx))
		s.stopRun()
		_ = s.running.Wait() // serve reports how the parts ended
	} else if s.listener != nil {
		s.listener.Close()
	}
	if s.running == nil {
		errs = append(errs, s.admin.shutdown(ctx)) // opened, never served
	}
	if s.broker != nil {
		errs = append(errs, s.broker.Close(ctx))
	}
	if s.agent != nil {
		errs = append(errs, s.agent.Close())
	}
	if s.backend != nil {
		errs = append(errs, s.backend.close())
	}
	return errors.Join(errs...)
}
