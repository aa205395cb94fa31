package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/bcrypt"

	"github.com/hearro/trustbroker/api"
)

// signingKeyFile is where the embedded mode keeps the API signing key: a file of its own, so
// `hearro token` can read it while `hearro serve` holds the store's lock.
const signingKeyFile = "signing.key"

// loadSigningKey reads (or, the first time, creates) the API signing key seed in dir.
func loadSigningKey(dir string) (*api.SigningKey, bool, error) {
	seed, created, err := keyFile(filepath.Join(dir, signingKeyFile))
	if err != nil {
		return nil, false, fmt.Errorf("API signing key: %w", err)
	}
	key, err := api.NewSigningKey(seed)
	return key, created, err
}

// keyFile returns the 32 random bytes stored base64-encoded at path, creating the file (0600,
// its directory 0700) the first time.
func keyFile(path string) (raw []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		raw, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(raw) != 32 {
			return nil, false, fmt.Errorf("%s: want 32 bytes, base64-encoded", path)
		}
		return raw, false, nil
	case errors.Is(err, os.ErrNotExist):
		raw = make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return nil, false, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return keyFile(path) // another process created it meanwhile
		}
		if err != nil {
			return nil, false, err
		}
		defer f.Close()
		if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
			return nil, false, err
		}
		return raw, true, f.Sync()
	default:
		return nil, false, err
	}
}

// clientsFile is the format of --oauth-clients-file.
type clientsFile struct {
	Clients []struct {
		ID string `yaml:"id"`
		// SecretBcrypt is the bcrypt hash of the client secret (`hearro oauth hash-secret`).
		SecretBcrypt string   `yaml:"secret_bcrypt"`
		Scopes       []string `yaml:"scopes"`
	} `yaml:"clients"`
}

// loadOAuthClients reads the CRM clients allowed to use POST /oauth/token. Errors name the line.
func loadOAuthClients(path string) (map[string]api.OAuthClient, error) {
	out := map[string]api.OAuthClient{}
	if path == "" {
		return out, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--oauth-clients-file: %w", err)
	}
	var f clientsFile
	if err := yaml.UnmarshalWithOptions(b, &f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("--oauth-clients-file %s:\n%s", path, yaml.FormatError(err, false, true))
	}
	for i, c := range f.Clients {
		where := fmt.Sprintf("--oauth-clients-file %s: client %d", path, i+1)
		switch {
		case c.ID == "":
			return nil, fmt.Errorf("%s: id is empty", where)
		case out[c.ID].ID != "":
			return nil, fmt.Errorf("%s: id %q appears twice", where, c.ID)
		case len(c.Scopes) == 0:
			return nil, fmt.Errorf("%s (%s): no scopes", where, c.ID)
		}
		if _, err := bcrypt.Cost([]byte(c.SecretBcrypt)); err != nil {
			return nil, fmt.Errorf("%s (%s): secret_bcrypt is not a bcrypt hash (make one with `hearro oauth hash-secret`)", where, c.ID)
		}
		for _, s := range c.Scopes {
			if !slices.Contains(api.KnownScopes, s) {
				return nil, fmt.Errorf("%s (%s): unknown scope %q (known: %s)", where, c.ID, s, strings.Join(api.KnownScopes, ", "))
			}
		}
		out[c.ID] = api.OAuthClient{ID: c.ID, SecretHash: []byte(c.SecretBcrypt), Scopes: c.Scopes}
	}
	return out, nil
}

// maxOAuthTokenLifetime is the most --oauth-max-token-lifetime may allow: an access token that
// outlives a week is a credential, not a token.
const maxOAuthTokenLifetime = 7 * 24 * time.Hour

// externalIssuer accepts tokens of an identity provider that live at most maxLifetime, its
// JWKS fetched and refreshed by jwx's cache through client.
func externalIssuer(ctx context.Context, jwksURL, issuer, audience string, maxLifetime time.Duration, client *http.Client) (*api.ExternalIssuer, error) {
	if jwksURL == "" {
		return nil, nil
	}
	if issuer == "" {
		return nil, errors.New("--oauth-issuer is required with --oauth-jwks-url")
	}
	cache := jwk.NewCache(ctx)
	if err := cache.Register(jwksURL, jwk.WithHTTPClient(client), jwk.WithMinRefreshInterval(5*time.Minute)); err != nil {
		return nil, fmt.Errorf("--oauth-jwks-url: %w", err)
	}
	// A token signed by a key the cached set lacks makes the set be fetched again, at most
	// once per jwksForcedRefresh, so that forged key ids cannot hammer the provider.
	var mu sync.Mutex
	var forced time.Time
	return &api.ExternalIssuer{Issuer: issuer, Audience: audience, MaxLifetime: maxLifetime,
		Keys: func(ctx context.Context) (jwk.Set, error) { return cache.Get(ctx, jwksURL) },
		Refresh: func(ctx context.Context) (jwk.Set, error) {
			mu.Lock()
			if time.Since(forced) < jwksForcedRefresh {
				mu.Unlock()
				return cache.Get(ctx, jwksURL)
			}
			forced = time.Now()
			mu.Unlock()
			return cache.Refresh(ctx, jwksURL)
		},
	}, nil
}

// jwksForcedRefresh is how often at most a token with an unknown key id refetches the
// identity provider's JWKS; between such fetches the set is refreshed as its Cache-Control
// says (at least every 5 minutes apart).
const jwksForcedRefresh = 30 * time.Second

func newTokenCmd() *cobra.Command {
	var dataDir, redisURL, redisPrefix, masterKey, publicURL, subject, audience string
	var scopes []string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a CRM API access token offline, from the service's signing key",
		Long: `Mint an OAuth 2.0 access token for the CRM API from the service's signing key in its data
directory (or, on Redis, sealed in Redis under the master key), for operators and scripts
(like vault token create). The service accepts it if --public-url and --data-dir (or
--redis-url, --redis-prefix and --master-key) are those of the running service.

  curl -H "Authorization: Bearer $(hearro token --scope identities:read)" localhost:8080/v1/identities`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, created, err := signingKeyFor(cmd.Context(), dataDir, redisURL, redisPrefix, masterKey)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintln(cmd.ErrOrStderr(), "hearro: created a new signing key; the service uses it from its next start")
			}
			var list []string
			for _, s := range scopes {
				list = append(list, strings.Fields(s)...)
			}
			if len(list) == 0 {
				return errors.New("--scope is required, e.g. --scope identities:read")
			}
			tok, _, err := api.NewAccessTokens(key, strings.TrimRight(publicURL, "/"), audience, nil).Mint(subject, list, ttl)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&scopes, "scope", nil, "scopes to grant: "+strings.Join(api.KnownScopes, ", ")+" (repeat or comma-separate)")
	f.DurationVar(&ttl, "ttl", time.Hour, "token lifetime")
	f.StringVar(&subject, "subject", "operator", "the token's subject (who it is for)")
	f.StringVar(&dataDir, "data-dir", "./data", "the service's data directory (embedded store)")
	f.StringVar(&redisURL, "redis-url", "", "the service's --redis-url (replicas keep the signing key in Redis)")
	f.StringVar(&redisPrefix, "redis-prefix", "hearro", "the service's --redis-prefix")
	f.StringVar(&masterKey, "master-key", "", "the service's --master-key (with --redis-url: it seals the signing key there)")
	f.StringVar(&publicURL, "public-url", "http://localhost:8080", "the service's --public-url (the tokens' issuer)")
	f.StringVar(&audience, "oauth-audience", api.DefaultAudience, "the service's --oauth-audience")
	withEnv(cmd, "HEARRO_")
	return cmd
}

func newOAuthCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "oauth", Short: "OAuth client administration"}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-secret",
		Short: "Read a client secret on stdin and print its bcrypt hash for --oauth-clients-file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			secret := strings.TrimRight(line, "\r\n")
			if len(secret) < 16 {
				return errors.New("the secret must be at least 16 characters")
			}
			h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.DefaultCost)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(h))
			return err
		},
	})
	return cmd
}
