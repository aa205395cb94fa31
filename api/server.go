// Package api is the service's HTTP surface on Echo: routes, authentication of requests,
// request decoding and response rendering, Server-Sent Events, and the one place where errors
// become RFC 9457 problem documents. It holds no business rules: every handler decodes,
// validates, makes one call into broker and renders.
package api

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/hearro/trustbroker/broker"
)

// Broker is what the API needs from the domain (implemented by *broker.Service).
type Broker interface {
	CreateSession(ctx context.Context, policy string) (*broker.Session, error)
	Session(ctx context.Context, id string) (*broker.Session, error)
	DescribeSession(ctx context.Context, id string) (*broker.SessionView, error)
	Watch(ctx context.Context, id string) (<-chan broker.Event, error)
	Identity(ctx context.Context, id string) (*broker.Identity, error)
	IdentityByFlex(ctx context.Context, flexIdentity string) (*broker.Identity, error)
	ListIdentities(ctx context.Context, f broker.IdentityFilter, cursor string, limit int) (*broker.IdentityPage, error)
	EraseIdentity(ctx context.Context, id string) error
	ErasureStatus(ctx context.Context, id string) (*broker.Erasure, error)
	Connections(ctx context.Context) ([]broker.WalletConnection, error)
	VerifyConnection(ctx context.Context, connectionID, policy string) (*broker.Session, error)
	ChatToken(ctx context.Context, sess *broker.Session) (string, time.Time, error)
	ChatClosed(ctx context.Context, chatSID string) error
	ChatSummary(ctx context.Context, chatSID string) (map[string]any, error)
	DeadLetters(ctx context.Context, after string, limit int) ([]broker.Delivery, error)
}

// Inbox takes one packed DIDComm message and processes it under ctx (implemented by
// didcomm.Receiver). Its refusals are identity/didcomm's errors (didcomm.ErrUnreadable, …),
// which the error mapper turns into statuses.
type Inbox interface {
	Receive(ctx context.Context, contentType string, body io.Reader) error
}

// Config configures the HTTP surface.
type Config struct {
	// PublicURL is the service's URL as wallets and browsers reach it, without trailing slash.
	PublicURL string
	// Tokens mints and checks session tokens.
	Tokens *SessionTokens
	// AccessTokens mints and checks the CRM's OAuth 2.0 access tokens.
	AccessTokens *AccessTokens
	// OAuthClients may use POST /oauth/token; AccessTokenTTL is the life of their tokens.
	OAuthClients   map[string]OAuthClient
	AccessTokenTTL time.Duration
	// SessionLimiter limits session creation per client and per IP; nil: unlimited.
	SessionLimiter Limiter
	// TrustedProxies are the proxies whose X-Forwarded-For is believed when finding a
	// client's IP; none: the connection's address is the client's.
	TrustedProxies []*net.IPNet
	// DIDComm receives wallets' DIDComm messages (POST /didcomm).
	DIDComm Inbox
	// Twilio, if set, is the Twilio API emulator, served under /_twilio/.
	Twilio http.Handler
	// Webhooks checks Twilio's webhooks; nil: the webhook routes answer 404.
	Webhooks Webhooks
	// AgentTokens checks Flex agents' tokens for the agent route; nil: that route answers 404.
	AgentTokens AgentTokens
	// FlexOrigins are the origins (scheme://host[:port]) of the Flex UI whose pages may call
	// the agent route from the browser (CORS); none: no cross-origin access.
	FlexOrigins []string
	// Ready reports whether the service can take traffic (GET /readyz).
	Ready func(ctx context.Context) error
	// Logger receives one access line per request; nil discards.
	Logger *slog.Logger
	// HeartbeatInterval spaces SSE keep-alive comments; default 15 s.
	HeartbeatInterval time.Duration
	// Metrics receives measurements of requests, event streams and rate limits (metrics.go);
	// nil measures nothing.
	Metrics Metrics
}

type server struct {
	cfg    Config
	broker Broker
	log    *slog.Logger
	// routes are the route patterns served (set once New has registered them all).
	routes map[string]bool
}

// New returns the service's HTTP handler.
func New(cfg Config, b Broker) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 15 * time.Second
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &server{cfg: cfg, broker: b, log: cfg.Logger}

	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = DefaultAccessTokenTTL
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	if len(cfg.TrustedProxies) > 0 {
		opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range cfg.TrustedProxies {
			opts = append(opts, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(opts...)
	}
	e.HTTPErrorHandler = errorHandler(cfg.Logger)
	e.Use(middleware.RequestID())
	e.Use(s.accessLog)
	e.Use(middleware.Recover())

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)

	// API bodies are small; DIDComm envelopes and the emulator have limits of their own.
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: "64K",
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == "/didcomm" || strings.HasPrefix(p, "/_twilio/")
		},
	}))

	e.GET("/openapi.yaml", s.openAPI)
	e.GET("/.well-known/jwks.json", s.jwks)
	e.POST("/oauth/token", s.token)

	e.POST("/v1/sessions", s.createSession, s.limitSessions)
	e.GET("/v1/sessions/:id", s.getSession)
	e.GET("/v1/sessions/:id/events", s.sessionEvents)
	e.GET("/v1/sessions/:id/qr.png", s.sessionQRPNG)
	e.GET("/v1/sessions/:id/qr.svg", s.sessionQRSVG)
	e.POST("/v1/sessions/:id/chat-token", s.chatToken)
	e.POST("/v1/twilio/conversations", s.twilioWebhook)
	e.POST("/v1/twilio/chat", s.twilioWebhook)

	read, write, sessions := s.requireScope(ScopeIdentitiesRead), s.requireScope(ScopeIdentitiesWrite), s.requireScope(ScopeSessionsWrite)
	e.GET("/v1/identities", s.listIdentities, read)
	e.GET("/v1/identities/:id", s.getIdentity, read)
	e.DELETE("/v1/identities/:id", s.eraseIdentity, write)
	e.GET("/v1/identities/:id/erasure", s.erasureStatus, write)
	e.GET("/v1/identities/by-flex/:flex_identity", s.identityByFlex, read)
	e.GET("/v1/connections", s.listConnections, read)
	e.POST("/v1/connections/:id/verify", s.verifyConnection, sessions, s.limitSessions)
	e.GET("/v1/webhooks/dead-letters", s.deadLetters, read)

	// The Flex plugin: the agent's Flex token, never a CRM token.
	s.agentRoutes(e)

	// The customer's chat page (api/web).
	e.GET("/", s.chatPage)
	e.GET("/assets/:file", s.chatAsset)

	e.GET("/i/:id", s.invitation)
	e.POST("/didcomm", s.didcomm)
	if cfg.Twilio != nil {
		e.Any("/_twilio/*", echo.WrapHandler(cfg.Twilio))
	}
	s.routes = routePatterns(e)
	return e
}

func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(c echo.Context) error {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.log.Warn("not ready", "err", err)
			return problem(http.StatusServiceUnavailable, "not_ready", "a backing service is not reachable")
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// accessLog writes one line per request. It logs the path only: query strings may carry
// session tokens (EventSource cannot send headers).
func (s *server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		level := slog.LevelInfo
		if strings.HasPrefix(req.URL.Path, "/healthz") || strings.HasPrefix(req.URL.Path, "/readyz") {
			level = slog.LevelDebug
		}
		took := time.Since(start)
		s.metrics().Request(req.Method, s.route(c), res.Status, took)
		s.log.Log(req.Context(), level, "http",
			"request_id", res.Header().Get(echo.HeaderXRequestID),
			"method", req.Method, "path", req.URL.Path, "status", res.Status,
			"bytes", res.Size, "duration_ms", float64(took.Microseconds())/1000)
		return nil
	}
}
