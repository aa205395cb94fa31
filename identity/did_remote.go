package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultMaxDIDDocumentSize bounds a fetched DID document or resolution result.
const DefaultMaxDIDDocumentSize = 256 << 10

// WebResolver resolves did:web DIDs (https://w3c-ccg.github.io/did-method-web/) over HTTPS
// with the client it is given. It does not cache: wrap it in a CachedResolver.
type WebResolver struct {
	client  *http.Client
	maxSize int64
}

var _ Resolver = (*WebResolver)(nil)

// NewWebResolver returns a did:web resolver using client, which must set a timeout (its TLS
// configuration decides which servers are trusted; tests pass httptest's TLS client).
func NewWebResolver(client *http.Client) (*WebResolver, error) {
	if client == nil || client.Timeout <= 0 {
		return nil, errors.New("did:web: an HTTP client with a timeout is required")
	}
	return &WebResolver{client: client, maxSize: DefaultMaxDIDDocumentSize}, nil
}

// WebDIDURL maps a did:web DID to the HTTPS URL of its document: did:web:example.com →
// https://example.com/.well-known/did.json; did:web:example.com%3A8443:user:alice →
// https://example.com:8443/user/alice/did.json.
func WebDIDURL(did string) (string, error) {
	method, id, err := splitDID(did)
	if err != nil {
		return "", err
	}
	if method != "web" {
		return "", reject(ReasonUnsupportedDIDMethod, "did:%s is not did:web", truncate(method))
	}
	parts := strings.Split(id, ":")
	host, err := url.PathUnescape(parts[0])
	if err != nil || !validHost(host) {
		return "", reject(ReasonUnresolvableDID, "did:web host %q is not a host name", truncate(parts[0]))
	}
	path := "/.well-known"
	if len(parts) > 1 {
		segs := make([]string, 0, len(parts)-1)
		for _, p := range parts[1:] {
			seg, err := url.PathUnescape(p)
			if err != nil || seg == "" || seg == "." || seg == ".." || strings.ContainsAny(seg, "/\\?#") {
				return "", reject(ReasonUnresolvableDID, "did:web path segment %q is not valid", truncate(p))
			}
			segs = append(segs, url.PathEscape(seg))
		}
		path = "/" + strings.Join(segs, "/")
	}
	return "https://" + host + path + "/did.json", nil
}

// WebDomain returns the host (with port, if any) of a did:web DID, or "" for other DIDs.
func WebDomain(did string) string {
	if !strings.HasPrefix(did, "did:web:") {
		return ""
	}
	u, err := WebDIDURL(did)
	if err != nil {
		return ""
	}
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return strings.ToLower(p.Host)
}

func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-', r == ':', r == '[', r == ']':
		default:
			return false
		}
	}
	return true
}

// Resolve fetches and parses the document of a did:web DID.
func (w *WebResolver) Resolve(ctx context.Context, did string) (*DIDDocument, error) {
	u, err := WebDIDURL(did)
	if err != nil {
		return nil, err
	}
	body, err := fetch(ctx, w.client, u, "application/did+json, application/json", w.maxSize)
	if err != nil {
		return nil, reject(ReasonUnresolvableDID, "%s: %v", truncate(did), err)
	}
	return ParseDIDDocument(did, body)
}

// UniversalResolver resolves DIDs of any method through a DIF Universal Resolver's HTTP API
// (GET {endpoint}/1.0/identifiers/{did}), e.g. did:sov or did:indy for Sovrin-anchored issuers.
// It does not cache: wrap it in a CachedResolver.
type UniversalResolver struct {
	endpoint string
	client   *http.Client
	maxSize  int64
}

var _ Resolver = (*UniversalResolver)(nil)

// NewUniversalResolver returns a resolver using the Universal Resolver at endpoint (an http(s)
// URL such as https://resolver.example.com) through client, which must set a timeout.
func NewUniversalResolver(endpoint string, client *http.Client) (*UniversalResolver, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("universal resolver: %q is not an http(s) URL", endpoint)
	}
	if client == nil || client.Timeout <= 0 {
		return nil, errors.New("universal resolver: an HTTP client with a timeout is required")
	}
	return &UniversalResolver{endpoint: strings.TrimRight(endpoint, "/"), client: client, maxSize: DefaultMaxDIDDocumentSize}, nil
}

// Resolve asks the Universal Resolver for did's document.
func (r *UniversalResolver) Resolve(ctx context.Context, did string) (*DIDDocument, error) {
	if _, _, err := splitDID(did); err != nil {
		return nil, err
	}
	for _, c := range did {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":._-%", c)) {
			return nil, reject(ReasonUnresolvableDID, "%q has characters a DID cannot have", truncate(did))
		}
	}
	body, err := fetch(ctx, r.client, r.endpoint+"/1.0/identifiers/"+did,
		`application/ld+json;profile="https://w3id.org/did-resolution", application/did+ld+json, application/json`, r.maxSize)
	if err != nil {
		return nil, reject(ReasonUnresolvableDID, "%s: universal resolver: %v", truncate(did), err)
	}
	// A resolution result wraps the document; a bare document is accepted too.
	var result struct {
		DIDDocument json.RawMessage `json:"didDocument"`
	}
	if err := json.Unmarshal(body, &result); err == nil && len(result.DIDDocument) > 0 && string(result.DIDDocument) != "null" {
		body = result.DIDDocument
	}
	return ParseDIDDocument(did, body)
}

// fetch GETs u and returns a 200 response body of at most max bytes.
func fetch(ctx context.Context, client *http.Client, u, accept string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := client.Do(req)
	if err != nil {
		return nil, errors.New("unreachable")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, errors.New("read failed")
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	return body, nil
}

// CachedResolver remembers what another resolver returned: documents for TTL, refusals with
// ReasonUnresolvableDID for NegativeTTL (so an unreachable host is not asked on every
// presentation), other errors not at all. Concurrent resolutions of one DID share one lookup;
// a lookup that ends because its caller's context did is neither cached nor handed to the
// callers sharing it, who ask again. It is safe for concurrent use.
type CachedResolver struct {
	next        Resolver
	ttl         time.Duration
	negativeTTL time.Duration
	max         int
	now         func() time.Time

	mu       sync.Mutex
	entries  map[string]cacheEntry
	inflight map[string]*call
}

type cacheEntry struct {
	doc     *DIDDocument
	err     error
	expires time.Time
}

type call struct {
	done chan struct{}
	doc  *DIDDocument
	err  error
	// abandoned: the lookup ended because its caller's context did, which says nothing about
	// the DID; callers that shared it and are still waiting ask again.
	abandoned bool
}

// CacheConfig configures a CachedResolver. Zero values take the documented defaults.
type CacheConfig struct {
	// TTL keeps resolved documents; default 5 minutes.
	TTL time.Duration
	// NegativeTTL keeps "unresolvable" answers; default 10 seconds; negative: never.
	NegativeTTL time.Duration
	// MaxEntries bounds the cache; default 10,000 DIDs.
	MaxEntries int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NewCachedResolver caches next's answers.
func NewCachedResolver(next Resolver, cfg CacheConfig) *CachedResolver {
	if cfg.TTL <= 0 {
		cfg.TTL = 5 * time.Minute
	}
	if cfg.NegativeTTL == 0 {
		cfg.NegativeTTL = 10 * time.Second
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 10000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &CachedResolver{next: next, ttl: cfg.TTL, negativeTTL: cfg.NegativeTTL, max: cfg.MaxEntries, now: cfg.Now,
		entries: map[string]cacheEntry{}, inflight: map[string]*call{}}
}

// Resolve returns the cached answer for did, or asks the next resolver.
func (c *CachedResolver) Resolve(ctx context.Context, did string) (*DIDDocument, error) {
	for {
		now := c.now()
		c.mu.Lock()
		if e, ok := c.entries[did]; ok && now.Before(e.expires) {
			c.mu.Unlock()
			return e.doc, e.err
		}
		cl, ok := c.inflight[did]
		if !ok {
			return c.lookup(ctx, did, now) // unlocks c.mu
		}
		c.mu.Unlock()
		select {
		case <-cl.done:
			if cl.abandoned && ctx.Err() == nil {
				continue
			}
			return cl.doc, cl.err
		case <-ctx.Done():
			return nil, reject(ReasonUnresolvableDID, "%s: %v", truncate(did), ctx.Err())
		}
	}
}

// lookup asks the next resolver for did on behalf of every caller that arrives meanwhile,
// and caches the answer. It is called with c.mu held, and releases it.
func (c *CachedResolver) lookup(ctx context.Context, did string, now time.Time) (*DIDDocument, error) {
	cl := &call{done: make(chan struct{})}
	c.inflight[did] = cl
	c.mu.Unlock()

	cl.doc, cl.err = c.next.Resolve(ctx, did)
	cl.abandoned = cl.err != nil && ctx.Err() != nil

	c.mu.Lock()
	delete(c.inflight, did)
	var ttl time.Duration
	switch {
	case cl.err == nil:
		ttl = c.ttl
	case ReasonOf(cl.err) == ReasonUnresolvableDID && !cl.abandoned && c.negativeTTL > 0:
		ttl = c.negativeTTL
	}
	if ttl > 0 {
		if len(c.entries) >= c.max {
			c.evict(now)
		}
		c.entries[did] = cacheEntry{doc: cl.doc, err: cl.err, expires: now.Add(ttl)}
	}
	c.mu.Unlock()
	close(cl.done)
	return cl.doc, cl.err
}

// evict drops expired entries, and if none were, an arbitrary tenth of the cache.
func (c *CachedResolver) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, k)
		}
	}
	n := max(len(c.entries)/10, 1) // a small cache must still drop one
	for k := range c.entries {
		if len(c.entries) < c.max || n <= 0 {
			return
		}
		delete(c.entries, k)
		n--
	}
}

// ResolverConfig says which DID methods a service resolves and how. Offline methods (did:key,
// did:jwk, did:peer) are always resolved.
type ResolverConfig struct {
	// WebClient, if set, enables did:web with this client (it must set a timeout).
	WebClient *http.Client
	// UniversalResolverURL, if set, enables a Universal Resolver at this URL, queried with
	// UniversalClient (it must set a timeout) for UniversalMethods (e.g. "sov", "indy"; empty:
	// every method not resolved otherwise).
	UniversalResolverURL string
	UniversalClient      *http.Client
	UniversalMethods     []string
	// Cache configures the cache in front of the remote methods.
	Cache CacheConfig
}

// NewResolver builds the resolver of cfg: offline methods directly, remote methods through
// one cache.
func NewResolver(cfg ResolverConfig) (Resolver, error) {
	m := OfflineMethods()
	remote := Methods{}
	if cfg.WebClient != nil {
		web, err := NewWebResolver(cfg.WebClient)
		if err != nil {
			return nil, err
		}
		remote["web"] = web
	}
	if cfg.UniversalResolverURL != "" {
		uni, err := NewUniversalResolver(cfg.UniversalResolverURL, cfg.UniversalClient)
		if err != nil {
			return nil, err
		}
		if len(cfg.UniversalMethods) == 0 {
			remote["*"] = uni
		}
		for _, method := range cfg.UniversalMethods {
			if _, offline := m[method]; offline {
				return nil, fmt.Errorf("did:%s is resolved offline, not by the universal resolver", method)
			}
			remote[method] = uni
		}
	}
	if len(remote) == 0 {
		return m, nil
	}
	cached := NewCachedResolver(remote, cfg.Cache)
	for method := range remote {
		m[method] = cached
	}
	return m, nil
}
