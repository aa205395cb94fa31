package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/hearro/trustbroker/flex"
)

// AgentTokens checks a Flex agent's token (implemented by *flex.TokenValidator, which asks
// Twilio): the agent, flex.ErrAgentTokenInvalid, or an error wrapping
// flex.ErrAgentTokenUnavailable.
type AgentTokens interface {
	ValidateAgentToken(ctx context.Context, token string) (*flex.Agent, error)
}

// agentChatPath is the agent-facing route: a chat's verification summary, for the Flex plugin.
const agentChatPath = "/v1/agent/chats/:chat_sid/verification"

// agentRoutes serves the Flex plugin. It is authenticated by the agent's Flex token only
// (Authorization: Bearer), never by a CRM access token, and is the only route with CORS: for
// the configured Flex origins (exactly, no wildcard), so that the plugin running in Flex's
// page can call it.
func (s *server) agentRoutes(e *echo.Echo) {
	allowed := map[string]bool{}
	for _, o := range s.cfg.FlexOrigins {
		allowed[strings.TrimRight(o, "/")] = true
	}
	cors := middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc: func(origin string) (bool, error) { return allowed[origin], nil },
		AllowMethods:    []string{http.MethodGet},
		AllowHeaders:    []string{echo.HeaderAuthorization},
		MaxAge:          600,
	})
	e.GET(agentChatPath, s.agentChatVerification, cors)
	e.OPTIONS(agentChatPath, func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, cors)
}

// agentChatVerification: GET /v1/agent/chats/{chat_sid}/verification — what the agent sees in
// Flex about the customer of a chat: verified, issuer, credential type, assurance, when, and
// the claims the policy displays. Never the holder DID or another claim.
func (s *server) agentChatVerification(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if s.cfg.AgentTokens == nil {
		return problem(http.StatusNotFound, "not_found", "agent access is not configured")
	}
	token, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok || strings.TrimSpace(token) == "" {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="flex"`)
		return problem(http.StatusUnauthorized, "unauthorized", "send the agent's Flex token as a Bearer token")
	}
	ctx := c.Request().Context()
	agent, err := s.cfg.AgentTokens.ValidateAgentToken(ctx, token)
	switch {
	case errors.Is(err, flex.ErrAgentTokenInvalid):
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="flex", error="invalid_token"`)
		return problem(http.StatusUnauthorized, "flex_token_invalid", "the Flex token is invalid, expired or not of this account")
	case err != nil:
		s.log.Warn("Flex token validation unavailable", "err", err) // the error never holds the token
		return problem(http.StatusServiceUnavailable, "flex_unavailable", "Twilio cannot validate the Flex token now; retry shortly")
	}
	chatSID := c.Param("chat_sid")
	if !validChatSID(chatSID) {
		return problem(http.StatusNotFound, "not_found", "no verified customer on this chat")
	}
	summary, err := s.broker.ChatSummary(ctx, chatSID)
	if err != nil {
		return err // broker.ErrNotFound: 404
	}
	s.log.Info("agent read a chat's verification", "chat_sid", chatSID, "worker_sid", agent.WorkerSID)
	return c.JSON(http.StatusOK, summary)
}

// validChatSID accepts what Twilio's conversation and channel SIDs look like: two letters and
// hex digits, at most 64 characters.
func validChatSID(sid string) bool {
	if len(sid) < 3 || len(sid) > 64 {
		return false
	}
	for i := 0; i < len(sid); i++ {
		ch := sid[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z') {
			return false
		}
	}
	return true
}
