package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/flex"
	"github.com/hearro/trustbroker/identity/outbound"
)

// settings are the serve settings as the builders read them, parsed once by parse. Values
// that need no parsing (durations, numbers, paths, names) come from the embedded serveConfig;
// the ones that do are here, parsed, and their raw strings are not read again.
type settings struct {
	serveConfig

	// publicURL is --public-url without its trailing slash; empty: http://localhost:<port>.
	publicURL string
	// masterKey is --master-key decoded; nil: the key generated into the data directory
	// (development, embedded store only).
	masterKey []byte
	// outboundAllow are the non-public networks outbound fetches may reach.
	outboundAllow []netip.Prefix
	// trustedProxies are the proxies whose X-Forwarded-For is believed.
	trustedProxies []*net.IPNet
	// flexOrigins are the --flex-origins, as origins (scheme://host[:port]).
	flexOrigins []string
	flexMode    flex.Mode
	// redis is the deployment --redis-url names; empty: the embedded store.
	redis redisstore.Topology
}

// masterKeySize is the length of --master-key once decoded.
const masterKeySize = redisstore.MasterKeySize

// decodeMasterKey decodes a --master-key: 32 bytes, base64-encoded. ok is false for anything else.
func decodeMasterKey(s string) (key []byte, ok bool) {
	key, err := base64.StdEncoding.DecodeString(s)
	return key, err == nil && len(key) == masterKeySize
}

// Validate checks the settings that do not need the outside world.
func (c *serveConfig) Validate() error {
	_, err := c.parse()
	return err
}

// parse checks the settings that do not need the outside world and returns them parsed: the
// only place a setting is parsed. The error lists every problem found.
func (c *serveConfig) parse() (settings, error) {
	set := settings{serveConfig: *c}
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("--addr is empty"))
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			errs = append(errs, fmt.Errorf("--public-url %q: want an http(s) origin such as https://verify.example.com", c.PublicURL))
		}
		set.publicURL = strings.TrimRight(c.PublicURL, "/")
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data-dir is empty"))
	}
	if c.SessionTTL < 30*time.Second {
		errs = append(errs, fmt.Errorf("--session-ttl %s: at least 30s", c.SessionTTL))
	}
	if c.ChatTokenTTL < time.Minute || c.ChatTokenTTL > flex.MaxTokenTTL {
		errs = append(errs, fmt.Errorf("--chat-token-ttl %s: between 1m and %s", c.ChatTokenTTL, flex.MaxTokenTTL))
	}
	if c.SessionRate < 0 || c.SessionBurst < 1 {
		errs = append(errs, errors.New("--session-rate must be >= 0 and --session-burst >= 1"))
	}
	if c.AccessTokenTTL < time.Minute || c.AccessTokenTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--access-token-ttl %s: between 1m and 24h", c.AccessTokenTTL))
	}
	if c.OAuthJWKSURL != "" && c.OAuthIssuer == "" {
		errs = append(errs, errors.New("--oauth-issuer is required with --oauth-jwks-url"))
	}
	var err error
	if set.outboundAllow, err = outbound.ParseNetworks(c.OutboundAllowNetworks); err != nil {
		errs = append(errs, fmt.Errorf("--outbound-allow-networks: %w", err))
	}
	if c.OAuthMaxLifetime < time.Minute || c.OAuthMaxLifetime > maxOAuthTokenLifetime {
		errs = append(errs, fmt.Errorf("--oauth-max-token-lifetime %s: between 1m and %s", c.OAuthMaxLifetime, maxOAuthTokenLifetime))
	}
	for _, o := range c.FlexOrigins {
		u, err := url.Parse(o)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
			errs = append(errs, fmt.Errorf("--flex-origins %q: want an origin such as https://flex.twilio.com", o))
		case u.Scheme == "http" && !c.Dev:
			errs = append(errs, fmt.Errorf("--flex-origins %q: use https outside development", o))
		default:
			set.flexOrigins = append(set.flexOrigins, u.Scheme+"://"+u.Host)
		}
	}
	for _, p := range c.TrustedProxies {
		if _, n, err := net.ParseCIDR(p); err != nil {
			errs = append(errs, fmt.Errorf("--trusted-proxies %q: not a CIDR", p))
		} else {
			set.trustedProxies = append(set.trustedProxies, n)
		}
	}
	if c.RedisURL != "" {
		if set.redis, err = redisstore.ValidateURL(c.RedisURL); err != nil {
			errs = append(errs, fmt.Errorf("--redis-url: %w", err))
		}
		if c.MasterKey == "" {
			errs = append(errs, errors.New("--master-key is required with --redis-url: every replica must open the agent's keys with the same master key"))
		}
	}
	if c.MasterKey != "" {
		key, ok := decodeMasterKey(c.MasterKey)
		if !ok {
			errs = append(errs, errors.New("--master-key: want 32 bytes, base64-encoded (openssl rand -base64 32)"))
		}
		set.masterKey = key
	} else if !c.Dev {
		errs = append(errs, errors.New("--master-key is required outside development mode"))
	}
	if !c.Dev {
		if c.TwilioAccountSID == "" {
			errs = append(errs, errors.New("--twilio-account-sid (and the other --twilio-* settings) are required outside development mode"))
		}
		if c.PolicyFile == "" {
			errs = append(errs, errors.New("--policy-file is required outside development mode: it says which issuers are trusted"))
		}
	}
	for _, u := range c.WebhookURLs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			errs = append(errs, fmt.Errorf("--webhook-url %q: want an http(s) URL", u))
		} else if p.Scheme == "http" && !c.Dev {
			errs = append(errs, fmt.Errorf("--webhook-url %q: webhooks carry identities; use https outside development", u))
		}
	}
	if c.WebhookMaxAttempts < 1 {
		errs = append(errs, errors.New("--webhook-max-attempts: at least 1"))
	}
	if c.IdentityCacheTTL < 0 || c.IdentityCacheTTL > time.Minute {
		errs = append(errs, fmt.Errorf("--identity-cache-ttl %s: between 0 and 1m", c.IdentityCacheTTL))
	}
	if c.ChatRetryFor < time.Second {
		errs = append(errs, fmt.Errorf("--chat-retry-for %s: at least 1s", c.ChatRetryFor))
	}
	switch {
	case c.ChatInactiveAfter < flex.MinChatInactiveAfter:
		errs = append(errs, fmt.Errorf("--chat-inactive-after %s: at least %s (Twilio's minimum)", c.ChatInactiveAfter, flex.MinChatInactiveAfter))
	case c.ChatCloseAfter < flex.MinChatCloseAfter:
		errs = append(errs, fmt.Errorf("--chat-close-after %s: at least %s (Twilio's minimum)", c.ChatCloseAfter, flex.MinChatCloseAfter))
	case c.ChatCloseAfter <= c.ChatInactiveAfter:
		errs = append(errs, fmt.Errorf("--chat-close-after %s: longer than --chat-inactive-after %s", c.ChatCloseAfter, c.ChatInactiveAfter))
	}
	if c.TwilioRetryTotal < time.Second || c.TwilioRetryTotal > 5*time.Minute {
		errs = append(errs, fmt.Errorf("--twilio-retry-total %s: between 1s and 5m", c.TwilioRetryTotal))
	}
	if set.flexMode, err = flex.ParseMode(c.FlexMode); err != nil {
		errs = append(errs, fmt.Errorf("--flex-mode: %w", err))
	}
	if c.RemoteTimeout <= 0 || c.RemoteTimeout > time.Minute {
		errs = append(errs, fmt.Errorf("--remote-timeout %s: between 0 and 1m", c.RemoteTimeout))
	}
	errs = append(errs, checkAdminAddr(c))
	if err := errors.Join(errs...); err != nil {
		return settings{}, err
	}
	return set, nil
}
