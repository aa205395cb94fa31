package api

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/crypto/bcrypt"
)

// OAuthClient is a CRM system allowed to obtain access tokens with the client credentials
// grant. Its secret is kept only as a bcrypt hash.
type OAuthClient struct {
	ID         string
	SecretHash []byte
	Scopes     []string
}

// dummyHash is compared against when the client is unknown, so that answering "unknown
// client" takes as long as "wrong secret".
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a secret"), bcrypt.DefaultCost)

// DefaultAccessTokenTTL is the life of tokens from POST /oauth/token.
const DefaultAccessTokenTTL = time.Hour

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// oauthError is an RFC 6749 §5.2 error, rendered as a problem document that also carries the
// OAuth "error" member so OAuth client libraries understand it.
type oauthError struct {
	Problem
	Error string `json:"error"`
}

func (s *server) oauthFail(c echo.Context, status int, code, detail string) error {
	p := newProblem(status, code, detail)
	p.Instance = c.Request().URL.Path
	p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	if status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Basic realm="hearro"`)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	return c.JSON(status, oauthError{Problem: p, Error: code})
}

// token is the OAuth 2.0 token endpoint, client credentials grant only (RFC 6749 §4.4).
func (s *server) token(c echo.Context) error {
	req := c.Request()
	if ct := req.Header.Get(echo.HeaderContentType); !strings.HasPrefix(ct, echo.MIMEApplicationForm) {
		return s.oauthFail(c, http.StatusBadRequest, "invalid_request", "send application/x-www-form-urlencoded")
	}
	if err := req.ParseForm(); err != nil {
		return s.oauthFail(c, http.StatusBadRequest, "invalid_request", "the form cannot be parsed")
	}
	if gt := req.PostForm.Get("grant_type"); gt != "client_credentials" {
		return s.oauthFail(c, http.StatusBadRequest, "unsupported_grant_type", "only grant_type=client_credentials is supported")
	}
	id, secret, basic := req.BasicAuth()
	if !basic {
		id, secret = req.PostForm.Get("client_id"), req.PostForm.Get("client_secret")
	}
	client, known := s.cfg.OAuthClients[id]
	hash := dummyHash
	if known {
		hash = client.SecretHash
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(secret)) != nil || !known || id == "" {
		return s.oauthFail(c, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
	}
	scopes := client.Scopes
	if asked := strings.Fields(req.PostForm.Get("scope")); len(asked) > 0 {
		for _, sc := range asked {
			if !slices.Contains(client.Scopes, sc) {
				return s.oauthFail(c, http.StatusBadRequest, "invalid_scope", "the client may not ask for "+sc)
			}
		}
		scopes = asked
	}
	token, exp, err := s.cfg.AccessTokens.Mint(id, scopes, s.cfg.AccessTokenTTL)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, tokenResponse{
		AccessToken: token, TokenType: "Bearer", ExpiresIn: int(time.Until(exp).Seconds()), Scope: strings.Join(scopes, " "),
	})
}

func (s *server) jwks(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, s.cfg.AccessTokens.key.PublicSet())
}
