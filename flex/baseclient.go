package flex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twilio/twilio-go/client"
)

// userAgentExtension is appended to twilio-go's User-Agent.
const userAgentExtension = "hearro-trustbroker"

// BaseClient is the twilio-go client.BaseClient every Twilio call of this
// package goes through. It wraps twilio-go's own *client.Client (Basic auth,
// form encoding, Twilio error decoding) and adds two things:
//
//   - requests are sent with the configured *http.Client, never
//     http.DefaultClient, and always with a timeout;
//   - when Config.BaseURL is set, https://{label}.twilio.com/{path} is
//     rewritten to {BaseURL}/{label}/{path} (label being the host's first
//     label: flex-api, conversations, …), so the real twilio-go client talks
//     to the emulator. With BaseURL empty, URLs are left alone.
//
// Use it with twilio.NewRestClientWithParams(twilio.ClientParams{Client: bc}).
// A BaseClient is safe for concurrent use, except SetTimeout and SetOauth,
// which twilio-go calls only while building a client.
type BaseClient struct {
	inner *client.Client
	base  string // BaseURL without trailing slash; "" in live mode
	hc    *http.Client

	// call is set on clients bound to one call (see bind).
	call *callTransport
}

var _ client.BaseClient = (*BaseClient)(nil)

// restCredentials are the REST API's basic-auth credentials: AccountSID and AuthToken, or the
// API key when there is no AuthToken; ok is false when neither is complete.
func (cfg Config) restCredentials() (user, pass string, ok bool) {
	user, pass = cfg.AccountSID, cfg.AuthToken
	if pass == "" {
		user, pass = cfg.APIKeySID, cfg.APIKeySecret
	}
	return user, pass, user != "" && pass != ""
}

// NewBaseClient returns a BaseClient for cfg. It uses cfg.AccountSID, the REST
// credentials (AccountSID/AuthToken, or APIKeySID/APIKeySecret when AuthToken
// is empty), cfg.BaseURL and cfg.HTTPClient; it checks only those.
func NewBaseClient(cfg Config) (*BaseClient, error) {
	if !validSID(cfg.AccountSID, "AC") {
		return nil, errors.New("flex: BaseClient: AccountSID is missing or malformed")
	}
	user, pass, ok := cfg.restCredentials()
	if !ok {
		return nil, errors.New("flex: BaseClient: no REST credentials (set AuthToken, or APIKeySID and APIKeySecret)")
	}
	if cfg.BaseURL != "" {
		if err := checkBaseURL(cfg.BaseURL); err != nil {
			return nil, fmt.Errorf("flex: BaseClient: BaseURL: %w", err)
		}
	}
	hc := httpClient(cfg.HTTPClient)
	inner := &client.Client{
		Credentials:         client.NewCredentials(user, pass),
		HTTPClient:          hc,
		UserAgentExtensions: []string{userAgentExtension},
	}
	inner.SetAccountSid(cfg.AccountSID)
	return &BaseClient{inner: inner, base: strings.TrimSuffix(cfg.BaseURL, "/"), hc: hc}, nil
}

// httpClient returns the client to send with: a private copy of hc (so that
// twilio-go's SetTimeout cannot change the caller's client), with
// DefaultTimeout when hc has none, or a fresh client when hc is nil.
func httpClient(hc *http.Client) *http.Client {
	if hc == nil {
		return &http.Client{
			Timeout: DefaultTimeout,
			// Like twilio-go's own default: Twilio's API does not redirect,
			// and credentials must not follow a redirect elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c := *hc
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	return &c
}

// AccountSid implements client.BaseClient.
func (b *BaseClient) AccountSid() string { return b.inner.AccountSid() }

// SetTimeout implements client.BaseClient; it changes this BaseClient's
// private copy of the HTTP client only.
func (b *BaseClient) SetTimeout(timeout time.Duration) { b.inner.SetTimeout(timeout) }

// SetOauth implements client.BaseClient.
func (b *BaseClient) SetOauth(auth client.OAuth) { b.inner.SetOauth(auth) }

// OAuth implements client.BaseClient.
func (b *BaseClient) OAuth() client.OAuth { return b.inner.OAuth() }

// SendRequest implements client.BaseClient: it rewrites rawURL for the
// emulator when BaseURL is set, then lets twilio-go send it.
func (b *BaseClient) SendRequest(method, rawURL string, data url.Values,
	headers map[string]interface{}, body ...byte) (*http.Response, error) {
	target, err := b.target(rawURL)
	if err != nil {
		return nil, err
	}
	return b.inner.SendRequest(method, target, data, headers, body...)
}

// target maps a Twilio URL to where it must be sent.
func (b *BaseClient) target(rawURL string) (string, error) {
	if b.base == "" {
		return rawURL, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("flex: BaseClient: %w", err)
	}
	host := u.Hostname()
	if label, _, ok := strings.Cut(host, "."); ok && strings.HasSuffix(host, ".twilio.com") {
		target := b.base + "/" + label + u.EscapedPath()
		if u.RawQuery != "" {
			target += "?" + u.RawQuery
		}
		return target, nil
	}
	// Already an emulator URL (e.g. a paging link): send it as it is.
	if rawURL == b.base || strings.HasPrefix(rawURL, b.base+"/") {
		return rawURL, nil
	}
	return "", fmt.Errorf("flex: BaseClient: refusing to send credentials to %q, which is neither Twilio nor the emulator", u.Host)
}

// bind returns a BaseClient for one call: its requests are cancelled with
// ctx (twilio-go builds its requests with context.Background), it records
// the HTTP status of the last response, and its done method releases
// whatever twilio-go left open. Callers must call done.
func (b *BaseClient) bind(ctx context.Context) *BaseClient {
	hc := *b.hc
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	call := &callTransport{ctx: ctx, base: rt}
	hc.Transport = call
	inner := &client.Client{
		Credentials:         b.inner.Credentials,
		HTTPClient:          &hc,
		UserAgentExtensions: b.inner.UserAgentExtensions,
	}
	inner.SetAccountSid(b.inner.AccountSid())
	return &BaseClient{inner: inner, base: b.base, hc: &hc, call: call}
}

// lastStatus is the HTTP status of the last response of a bound client, 0
// when there was none. twilio-go does not report it when an error body
// cannot be decoded (say, a proxy's HTML 502 page).
func (b *BaseClient) lastStatus() int {
	if b.call == nil {
		return 0
	}
	return int(b.call.status.Load())
}

// lastRetryAfter is the Retry-After of the last response of a bound client,
// 0 when it had none.
func (b *BaseClient) lastRetryAfter() time.Duration {
	if b.call == nil {
		return 0
	}
	v, _ := b.call.retryAfter.Load().(string)
	return parseRetryAfter(v, time.Now())
}

// forget clears what a bound client remembers of the last response, before
// its next request.
func (b *BaseClient) forget() {
	if b.call != nil {
		b.call.status.Store(0)
		b.call.retryAfter.Store("")
	}
}

// done ends a bound client's call: it cancels the requests' contexts, which
// also frees the connections of error responses twilio-go never closes.
func (b *BaseClient) done() {
	if b.call != nil {
		b.call.releaseAll()
	}
}

// callTransport ties requests to the context of one call, on top of the
// HTTP client's own timeout.
type callTransport struct {
	ctx        context.Context
	base       http.RoundTripper
	status     atomic.Int32
	retryAfter atomic.Value // string: the last response's Retry-After

	mu       sync.Mutex
	releases []func()
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	release := func() { stop(); cancel() }
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		if cerr := t.ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	t.status.Store(int32(resp.StatusCode))
	t.retryAfter.Store(resp.Header.Get("Retry-After"))
	t.mu.Lock()
	t.releases = append(t.releases, release)
	t.mu.Unlock()
	resp.Body = &releaseBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

func (t *callTransport) releaseAll() {
	t.mu.Lock()
	releases := t.releases
	t.releases = nil
	t.mu.Unlock()
	for _, release := range releases {
		release()
	}
}

// releaseBody releases the call's context when the body is closed.
type releaseBody struct {
	io.ReadCloser
	release func()
}

func (b *releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.release()
	return err
}
