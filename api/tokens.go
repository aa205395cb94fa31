package api

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jwt"
)

// sessionAudience is the audience of session tokens: they grant access to one session only.
const sessionAudience = "hearro:session"

// sessionTokenGrace is how long after a session's deadline its token still reads it (a bound
// chat outlives the verification deadline, and the browser refreshes its chat token with it).
const sessionTokenGrace = 12 * time.Hour

// SessionTokens mints and checks the bearer tokens that give a browser access to its session:
// EdDSA JWTs signed with the service's key. Safe for concurrent use.
type SessionTokens struct {
	issuer string
	key    jwk.Key
	pub    jwk.Key
}

// NewSessionTokens returns a token minter/checker for a key seed (32 bytes).
func NewSessionTokens(issuer string, seed []byte) (*SessionTokens, error) {
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("session token key: need a %d-byte seed", ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	key, err := jwk.FromRaw(priv)
	if err != nil {
		return nil, err
	}
	pub, err := jwk.FromRaw(priv.Public())
	if err != nil {
		return nil, err
	}
	return &SessionTokens{issuer: issuer, key: key, pub: pub}, nil
}

// Mint returns a token for session id, valid until the session's deadline plus a grace period.
func (t *SessionTokens) Mint(id string, deadline time.Time) (string, error) {
	tok, err := jwt.NewBuilder().
		Issuer(t.issuer).
		Audience([]string{sessionAudience}).
		Subject(id).
		IssuedAt(time.Now()).
		Expiration(deadline.Add(sessionTokenGrace)).
		Build()
	if err != nil {
		return "", err
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA, t.key))
	if err != nil {
		return "", err
	}
	return string(b), nil
}

var errBadToken = errors.New("invalid session token")

// Check verifies that token grants access to session id.
func (t *SessionTokens) Check(token, id string) error {
	_, err := jwt.Parse([]byte(token),
		jwt.WithKey(jwa.EdDSA, t.pub),
		jwt.WithValidate(true),
		jwt.WithIssuer(t.issuer),
		jwt.WithAudience(sessionAudience),
		jwt.WithSubject(id),
		jwt.WithAcceptableSkew(30*time.Second),
	)
	if err != nil {
		return fmt.Errorf("%w: %v", errBadToken, err)
	}
	return nil
}
