package redisstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Topology is the kind of Redis deployment a URL names.
type Topology string

// The deployments a URL can name.
const (
	Standalone Topology = "standalone"
	Sentinel   Topology = "sentinel"
	Cluster    Topology = "cluster"
)

// clientConfig is a parsed URL: exactly one of the option pointers is set.
type clientConfig struct {
	topology Topology
	single   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// ValidateURL reports whether rawURL is a URL Open accepts (see the package comment) and which
// deployment it names, without connecting. The error says what is wrong; it never contains the
// URL's password.
func ValidateURL(rawURL string) (Topology, error) {
	c, err := parseURL(rawURL)
	if err != nil {
		return "", err
	}
	return c.topology, nil
}

// NewClient returns a go-redis client for the deployment rawURL names (see the package
// comment). It does not connect until used.
func NewClient(rawURL string) (redis.UniversalClient, error) {
	c, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch c.topology {
	case Sentinel:
		return redis.NewFailoverClient(c.failover), nil
	case Cluster:
		return redis.NewClusterClient(c.cluster), nil
	default:
		return redis.NewClient(c.single), nil
	}
}

func parseURL(rawURL string) (*clientConfig, error) {
	if strings.TrimSpace(rawURL) == "" {
		return nil, errors.New("redisstore: empty Redis URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included: give only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("redisstore: Redis URL is not a URL: %w", err)
	}
	shown := u.Redacted()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("redisstore: Redis URL %s: "+format, append([]any{shown}, args...)...)
	}
	q := u.Query()
	base, kind, _ := strings.Cut(u.Scheme, "+")
	switch {
	case base != "redis" && base != "rediss" && !(base == "unix" && kind == ""):
		return nil, fail("unknown scheme %q: want redis://, rediss:// or unix:// (standalone), "+
			"redis+sentinel:// or rediss+sentinel:// (Sentinel), redis+cluster:// or rediss+cluster:// (Cluster)", u.Scheme)
	case u.Host == "" && base != "unix":
		return nil, fail("no host: want %s://host:port", u.Scheme)
	}
	// go-redis parses the URL with the plain scheme; its messages name the option at fault.
	plain := *u
	plain.Scheme = base
	// parsed returns c, the configuration of what go-redis parsed, or go-redis's error.
	parsed := func(c *clientConfig, err error) (*clientConfig, error) {
		if err != nil {
			return nil, fail("%w", err)
		}
		return c, nil
	}

	switch kind {
	case "":
		switch {
		case q.Has("master_name"):
			return nil, fail("master_name is a Sentinel option: use redis+sentinel://sentinel-host:26379?master_name=%s", q.Get("master_name"))
		case q.Has("addr"):
			return nil, fail("several addresses (addr=…) need redis+cluster:// (Cluster) or redis+sentinel:// (Sentinel)")
		}
		o, err := redis.ParseURL(plain.String())
		return parsed(&clientConfig{topology: Standalone, single: o}, err)
	case "sentinel":
		if q.Get("master_name") == "" {
			return nil, fail("a Sentinel URL needs master_name=<name of the monitored master>")
		}
		o, err := redis.ParseFailoverURL(plain.String())
		return parsed(&clientConfig{topology: Sentinel, failover: o}, err)
	case "cluster":
		if u.Path != "" && u.Path != "/" {
			return nil, fail("a Cluster has no database number (path %q): remove it", u.Path)
		}
		if q.Has("db") {
			return nil, fail("a Cluster has no database number: remove db=")
		}
		plain.Path = ""
		o, err := redis.ParseClusterURL(plain.String())
		return parsed(&clientConfig{topology: Cluster, cluster: o}, err)
	default:
		return nil, fail("unknown scheme %q: the part after '+' must be sentinel or cluster", u.Scheme)
	}
}
