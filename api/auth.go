package api

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// Scopes of the CRM API.
const (
	ScopeIdentitiesRead  = "identities:read"
	ScopeIdentitiesWrite = "identities:write"
	ScopeSessionsWrite   = "sessions:write"
)

// KnownScopes are every scope a token may carry.
var KnownScopes = []string{ScopeIdentitiesRead, ScopeIdentitiesWrite, ScopeSessionsWrite}

// DefaultAudience is the audience of access tokens for this API.
const DefaultAudience = "hearro-api"

// Principal is who a CRM request acts for.
type Principal struct {
	Subject string
	Scopes  []string
}

// Has reports whether p was granted scope.
func (p *Principal) Has(scope string) bool { return slices.Contains(p.Scopes, scope) }

// SigningKey is the service's own signing key: it signs the access tokens of POST /oauth/token
// and `hearro token`, and CRM webhooks. Its public half is served at /.well-known/jwks.json.
type SigningKey struct {
	private jwk.Key
	public  jwk.Key
}

// NewSigningKey returns the key for an Ed25519 seed; its key ID is the JWK thumbprint.
func NewSigningKey(seed []byte) (*SigningKey, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("signing key: need a %d-byte seed", ed25519.SeedSize)
	}
	priv, err := jwk.FromRaw(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return nil, err
	}
	pub, err := priv.PublicKey()
	if err != nil {
		return nil, err
	}
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return nil, err
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	for _, k := range []jwk.Key{priv, pub} {
		_ = k.Set(jwk.KeyIDKey, kid)
		_ = k.Set(jwk.AlgorithmKey, jwa.EdDSA)
		_ = k.Set(jwk.KeyUsageKey, "sig")
	}
	return &SigningKey{private: priv, public: pub}, nil
}

// PublicSet is the JWKS of the key.
func (k *SigningKey) PublicSet() jwk.Set {
	set := jwk.NewSet()
	_ = set.AddKey(k.public)
	return set
}

// AccessTokens mints and checks the API's OAuth 2.0 access tokens (EdDSA JWTs). It also
// accepts tokens from an external identity provider when one is configured. Safe for
// concurrent use.
type AccessTokens struct {
	key      *SigningKey
	issuer   string
	audience string

	external *ExternalIssuer

	// checked remembers tokens that passed Check, so that a CRM client sending the same token
	// on every request pays for its signature once (an EdDSA verification and jwx's parsing
	// cost more than the rest of an identity lookup).
	mu      sync.Mutex
	checked map[[sha256.Size]byte]checkedToken
}

// checkedToken is a token that passed Check: its principal, trusted until until.
type checkedToken struct {
	principal *Principal
	until     time.Time
}

const (
	// checkedFor bounds how long a checked token is trusted without checking it again: a key
	// the external identity provider withdraws from its JWKS stops working within this.
	checkedFor = time.Minute
	// maxChecked bounds the memory of remembered tokens.
	maxChecked = 10000
)

// DefaultMaxExternalTokenLifetime is the longest an external identity provider's access token
// may live when ExternalIssuer.MaxLifetime is zero.
const DefaultMaxExternalTokenLifetime = 24 * time.Hour

// tokenSkew is the clock difference allowed between this service and a token's issuer.
const tokenSkew = 30 * time.Second

// ExternalIssuer is an identity provider whose tokens the API accepts: its issuer, the
// audience its tokens must carry, and its JWKS (fetched, cached and refreshed). Its tokens must
// expire (exp), live at most MaxLifetime, and not be issued (iat) or valid (nbf) in the future.
type ExternalIssuer struct {
	Issuer   string
	Audience string
	// MaxLifetime bounds a token's life: exp - iat, or exp - now for a token without iat.
	// Zero means DefaultMaxExternalTokenLifetime.
	MaxLifetime time.Duration
	// Keys returns the cached JWKS.
	Keys func(ctx context.Context) (jwk.Set, error)
	// Refresh, if set, fetches the JWKS again now (it may decline and return the cached set
	// when it refreshed moments ago). It is called for a token whose key id the cached set does
	// not hold: the provider has rotated to a new key.
	Refresh func(ctx context.Context) (jwk.Set, error)
}

// NewAccessTokens returns the minter/checker of tokens issued by issuer (the public URL) for
// audience, signed with key; external may be nil.
func NewAccessTokens(key *SigningKey, issuer, audience string, external *ExternalIssuer) *AccessTokens {
	if audience == "" {
		audience = DefaultAudience
	}
	return &AccessTokens{key: key, issuer: issuer, audience: audience, external: external}
}

// Mint returns an access token for subject with scopes, valid for ttl.
func (a *AccessTokens) Mint(subject string, scopes []string, ttl time.Duration) (string, time.Time, error) {
	for _, s := range scopes {
		if !slices.Contains(KnownScopes, s) {
			return "", time.Time{}, fmt.Errorf("unknown scope %q (known: %s)", s, strings.Join(KnownScopes, ", "))
		}
	}
	now := time.Now()
	exp := now.Add(ttl).Truncate(time.Second)
	tok, err := jwt.NewBuilder().
		Issuer(a.issuer).
		Audience([]string{a.audience}).
		Subject(subject).
		IssuedAt(now).
		NotBefore(now.Add(-time.Second)).
		Expiration(exp).
		JwtID(randomID()).
		Claim("scope", strings.Join(scopes, " ")).
		Build()
	if err != nil {
		return "", time.Time{}, err
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, a.key.private))
	if err != nil {
		return "", time.Time{}, err
	}
	return string(b), exp, nil
}

var errInvalidAccessToken = errors.New("invalid access token")

// tokenRefusal is a token that is genuine (its signature, issuer and audience hold) but refused
// for a reason the client is told: code is stable, rendered as the problem's code.
type tokenRefusal struct {
	code, detail string
}

func (e *tokenRefusal) Error() string { return e.code + ": " + e.detail }

// Check verifies a bearer token and returns its principal. A token that passed is trusted
// again without verification until it expires, for at most a minute.
func (a *AccessTokens) Check(ctx context.Context, token string) (*Principal, error) {
	sum := sha256.Sum256([]byte(token))
	now := time.Now()
	a.mu.Lock()
	c, ok := a.checked[sum]
	a.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.principal, nil
	}
	p, exp, err := a.check(ctx, token)
	if err != nil {
		return nil, err
	}
	until := now.Add(checkedFor)
	if !exp.IsZero() && exp.Before(until) {
		until = exp
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.checked) >= maxChecked {
		maps.DeleteFunc(a.checked, func(_ [sha256.Size]byte, c checkedToken) bool { return !now.Before(c.until) })
		if len(a.checked) >= maxChecked {
			clear(a.checked) // all live: start again rather than grow
		}
	}
	if a.checked == nil {
		a.checked = make(map[[sha256.Size]byte]checkedToken)
	}
	a.checked[sum] = checkedToken{principal: p, until: until}
	return p, nil
}

func (a *AccessTokens) check(ctx context.Context, token string) (*Principal, time.Time, error) {
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeySet(a.key.PublicSet(), jws.WithInferAlgorithmFromKey(true)),
		jwt.WithValidate(true), jwt.WithIssuer(a.issuer), jwt.WithAudience(a.audience),
		jwt.WithAcceptableSkew(tokenSkew))
	if err != nil && a.external != nil {
		tok, err = a.checkExternal(ctx, token)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: %w", errInvalidAccessToken, err)
	}
	return &Principal{Subject: tok.Subject(), Scopes: scopesOf(tok)}, tok.Expiration(), nil
}

// checkExternal verifies a token of the external identity provider, fetching its JWKS again
// when the token names a key the cached set does not have.
func (a *AccessTokens) checkExternal(ctx context.Context, token string) (jwt.Token, error) {
	keys, err := a.external.Keys(ctx)
	if err != nil {
		return nil, err
	}
	if a.external.Refresh != nil {
		if kid := keyIDOf(token); kid != "" {
			if _, known := keys.LookupKeyID(kid); !known {
				if keys, err = a.external.Refresh(ctx); err != nil {
					return nil, err
				}
			}
		}
	}
	now := time.Now()
	tok, err := jwt.Parse([]byte(token),
		jwt.WithKeySet(keys, jws.WithInferAlgorithmFromKey(true)),
		jwt.WithValidate(true), jwt.WithIssuer(a.external.Issuer), jwt.WithAudience(a.external.Audience),
		jwt.WithAcceptableSkew(tokenSkew), jwt.WithClock(jwt.ClockFunc(func() time.Time { return now })))
	switch {
	// jwx validates only a token whose signature verified: these are the provider's own.
	case errors.Is(err, jwt.ErrInvalidIssuedAt()), errors.Is(err, jwt.ErrTokenNotYetValid()):
		return nil, &tokenRefusal{code: "token_not_yet_valid",
			detail: "the access token is issued (iat) or valid (nbf) in the future; check the clocks"}
	case err != nil:
		return nil, err
	}
	if err := a.external.lifetime(tok, now); err != nil {
		return nil, err
	}
	return tok, nil
}

// lifetime refuses a token that never expires or lives longer than x allows: a token leaked
// from a CRM must stop working on its own.
func (x *ExternalIssuer) lifetime(tok jwt.Token, now time.Time) error {
	exp := tok.Expiration()
	if exp.IsZero() {
		return &tokenRefusal{code: "token_without_expiry",
			detail: "the identity provider's access token has no expiry (exp); tokens that never expire are refused"}
	}
	from := tok.IssuedAt()
	if from.IsZero() {
		from = now
	}
	max := x.MaxLifetime
	if max <= 0 {
		max = DefaultMaxExternalTokenLifetime
	}
	if life := exp.Sub(from); life > max {
		return &tokenRefusal{code: "token_lifetime_too_long",
			detail: fmt.Sprintf("the identity provider's access token lives %s, more than the %s allowed", life.Round(time.Second), max)}
	}
	return nil
}

// keyIDOf returns the kid of a compact JWS's protected header, or "".
func keyIDOf(token string) string {
	msg, err := jws.Parse([]byte(token))
	if err != nil || len(msg.Signatures()) != 1 {
		return ""
	}
	return msg.Signatures()[0].ProtectedHeaders().KeyID()
}

// scopesOf reads the OAuth scope claim ("scope": "a b") or the "scp" list some providers use.
func scopesOf(tok jwt.Token) []string {
	if v, ok := tok.Get("scope"); ok {
		if s, ok := v.(string); ok {
			return strings.Fields(s)
		}
	}
	if v, ok := tok.Get("scp"); ok {
		switch x := v.(type) {
		case []any:
			var out []string
			for _, e := range x {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
			return out
		case string:
			return strings.Fields(x)
		}
	}
	return nil
}

// requireScope authenticates the CRM's bearer token and checks it grants scope.
func (s *server) requireScope(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p, err := s.principal(c)
			if err != nil {
				return err
			}
			if !p.Has(scope) {
				return problem(http.StatusForbidden, "insufficient_scope", "this route needs the %s scope", scope)
			}
			c.Set("principal", p)
			return next(c)
		}
	}
}

func (s *server) principal(c echo.Context) (*Principal, error) {
	token, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok || token == "" {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="hearro"`)
		return nil, problem(http.StatusUnauthorized, "unauthorized", "send an OAuth 2.0 access token as a Bearer token")
	}
	p, err := s.cfg.AccessTokens.Check(c.Request().Context(), token)
	if err != nil {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="hearro", error="invalid_token"`)
		if r := (*tokenRefusal)(nil); errors.As(err, &r) {
			return nil, problem(http.StatusUnauthorized, r.code, "%s", r.detail)
		}
		return nil, problem(http.StatusUnauthorized, "invalid_token", "the access token is invalid or expired")
	}
	return p, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
