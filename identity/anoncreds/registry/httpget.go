package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of the HTTP sources.
const (
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 4 << 20
)

// HTTPOptions tune an HTTP source.
type HTTPOptions struct {
	// Timeout bounds each request, on top of the caller's context. Zero: DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds each response body; a longer one is refused with
	// ErrInvalidObject. Zero: DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// getter GETs URLs through the caller's client.
type getter struct {
	client  *http.Client
	timeout time.Duration
	max     int64
}

func newGetter(client *http.Client, o HTTPOptions) (getter, error) {
	// The service's outbound client refuses private addresses and bounds every exchange; a
	// source must not fall back to a client that reaches anything.
	if client == nil || client == http.DefaultClient {
		return getter{}, errors.New("registry: an HTTP client (the service's outbound client) is required")
	}
	g := getter{client: client, timeout: o.Timeout, max: o.MaxResponseBytes}
	if g.timeout <= 0 {
		g.timeout = DefaultTimeout
	}
	if g.max <= 0 {
		g.max = DefaultMaxResponseBytes
	}
	return g, nil
}

// checkBaseURL accepts an http(s) URL with a host and no query or fragment, and returns it
// without a trailing slash.
func checkBaseURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("registry: %q is not an http(s) base URL", clip(s))
	}
	return strings.TrimRight(s, "/"), nil
}

// get fetches u and returns a 200 response's body. 404 and 410, and a 400 whose text says
// "not found" (indy-vdr-proxy's answer for an absent did:indy object), are ErrNotFound; a
// 400 with a resolver's "invalidDid…" error is ErrMalformedID; every other failure is
// ErrUnavailable, except a body over the limit (ErrInvalidObject).
func (g getter) get(ctx context.Context, what, id, u, accept string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fail(ErrMalformedID, what, id, "no URL can be built for it")
	}
	req.Header.Set("Accept", accept)
	resp, err := g.client.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("registry: %s %q: %w: %w", what, clip(id), ErrUnavailable, cerr)
		}
		return nil, fail(ErrUnavailable, what, id, "unreachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		switch {
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone,
			resp.StatusCode == http.StatusBadRequest && bytes.Contains(bytes.ToLower(head), []byte("not found")):
			return nil, fail(ErrNotFound, what, id, "HTTP %d", resp.StatusCode)
		case resp.StatusCode == http.StatusBadRequest && bytes.Contains(head, []byte(`"invalidDid`)):
			// A Universal Resolver's dereferencingMetadata error invalidDid / invalidDidUrl.
			return nil, fail(ErrMalformedID, what, id, "HTTP %d", resp.StatusCode)
		}
		return nil, fail(ErrUnavailable, what, id, "HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, g.max+1))
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("registry: %s %q: %w: %w", what, clip(id), ErrUnavailable, cerr)
		}
		return nil, fail(ErrUnavailable, what, id, "reading the response failed")
	}
	if int64(len(body)) > g.max {
		return nil, fail(ErrInvalidObject, what, id, "response larger than %d bytes", g.max)
	}
	return body, nil
}
