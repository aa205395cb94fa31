// Package outbound is the one HTTP client through which the service fetches what a stranger
// names: did:web documents, credential status lists, a Universal Resolver's answers and an
// identity provider's JWKS.
//
// A presentation is sent by an unauthenticated party, and the URLs in it (a did:web host, a
// status list) are theirs to choose. Fetched naively, they turn the service into a probe of
// the network it runs in: its loopback admin ports, the cloud metadata service at
// 169.254.169.254, the cluster's private addresses. This client connects only to public
// addresses:
//
//   - The address is checked when the connection is dialled, after name resolution, on the
//     very address the socket connects to: a name that resolves to a public address for the
//     check and a private one for the connection (DNS rebinding) cannot slip through, and
//     every address Happy Eyeballs tries is checked.
//   - Refused: loopback, the private ranges (10/8, 172.16/12, 192.168/16, IPv6 ULA fc00::/7),
//     link-local (169.254/16, fe80::/10), CGNAT (100.64/10), multicast, unspecified, the
//     IETF and benchmarking ranges, reserved 240/4, broadcast, and IPv6 forms that embed an
//     IPv4 address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16) — the embedded address
//     decides for the mapped form, the others are refused.
//   - Redirects are followed at most MaxRedirects times, only to https; the target's address
//     is checked like any other.
//   - Every response body is cut off at MaxBody bytes (reading past it fails with
//     ErrTooLarge), and the whole exchange at Timeout.
//   - Proxies from the environment are ignored: through a proxy the client would check the
//     proxy's address, not the target's.
//
// Config.Allow lets configuration (never code) add networks: a Universal Resolver inside the
// cluster, or loopback in tests.
package outbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRedirects = 3
	DefaultMaxBody      = 2 << 20
)

// Config configures a client. Zero values take the documented defaults.
type Config struct {
	// Timeout bounds a whole exchange, redirects and body included; default DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects bounds the redirects followed; default DefaultMaxRedirects; negative: none.
	MaxRedirects int
	// MaxBody bounds every response body in bytes; default DefaultMaxBody. Callers may read
	// less.
	MaxBody int64
	// Allow lists networks the client may connect to although they are not public.
	Allow []netip.Prefix
	// TLS configures TLS (tests trust their own certificate authority); nil: the system's.
	TLS *tls.Config
}

// ErrRefusedAddress is wrapped by the error of a request whose target (or a redirect's) is
// an address the client does not connect to.
var ErrRefusedAddress = errors.New("outbound: address not allowed")

// ErrRefusedRedirect is wrapped by the error of a request redirected to a URL the client does
// not follow (not https, or too many redirects).
var ErrRefusedRedirect = errors.New("outbound: redirect not followed")

// ErrTooLarge is returned by a response body read past Config.MaxBody.
var ErrTooLarge = errors.New("outbound: response body too large")

// New returns the client of cfg. It is safe for concurrent use; share one.
func New(cfg Config) *http.Client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	allow := append([]netip.Prefix(nil), cfg.Allow...)
	dialer := &net.Dialer{
		Timeout:   cfg.Timeout,
		KeepAlive: 30 * time.Second,
		// Control runs after resolution, on the address the socket is about to connect to.
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: %q is not an address", ErrRefusedAddress, address)
			}
			if !Allowed(ap.Addr(), allow) {
				return fmt.Errorf("%w: %s", ErrRefusedAddress, ap.Addr())
			}
			return nil
		},
	}
	transport := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        cfg.TLS,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    cfg.Timeout,
		ResponseHeaderTimeout:  cfg.Timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Timeout:   cfg.Timeout,
		Transport: &capped{next: transport, max: cfg.MaxBody},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > cfg.MaxRedirects {
				return fmt.Errorf("%w: more than %d redirects", ErrRefusedRedirect, max(cfg.MaxRedirects, 0))
			}
			if req.URL.Scheme != "https" {
				return fmt.Errorf("%w: to %s", ErrRefusedRedirect, req.URL.Scheme)
			}
			return nil
		},
	}
}

// Allowed reports whether the client connects to a: a public unicast address, or one inside
// an allowed network.
func Allowed(a netip.Addr, allow []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range allow {
		if p.Contains(a) {
			return true
		}
	}
	if !a.IsValid() || a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range refused {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// refused are the ranges netip's predicates do not name.
var refused = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: embeds any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2002::/16"),       // 6to4: embeds any IPv4 address
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("100::/64"),        // discard-only
}

// ParseNetworks parses a list of CIDR prefixes or single addresses (configuration).
func ParseNetworks(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a network (10.0.0.0/8) nor an address", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// capped cuts every response body at max bytes.
type capped struct {
	next http.RoundTripper
	max  int64
}

func (c *capped) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d bytes announced", ErrTooLarge, resp.ContentLength)
	}
	resp.Body = &cappedBody{rc: resp.Body, left: c.max}
	return resp, nil
}

type cappedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte more tells a body of exactly max bytes from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// Refused reports whether err is a refusal of this client (address, redirect or size), as
// opposed to the remote end failing.
func Refused(err error) bool {
	return errors.Is(err, ErrRefusedAddress) || errors.Is(err, ErrRefusedRedirect) || errors.Is(err, ErrTooLarge)
}
