// Package status fetches and decodes credential status lists: W3C Bitstring Status List v1.0
// (https://www.w3.org/TR/vc-bitstring-status-list/) and its predecessor StatusList2021.
//
// It knows HTTP, caching and bit strings, not credentials: whoever calls Fetcher.List passes
// the function that verifies the fetched list credential (identity does). It depends on the
// standard library only, and never on identity, broker, api or flex.
package status

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults of Config.
const (
	DefaultMaxSize      = 1 << 20  // a fetched list credential
	DefaultMaxListBytes = 16 << 20 // a decompressed bitstring (134 million entries)
	DefaultTTL          = 5 * time.Minute
	DefaultMaxEntries   = 1000
)

// ErrUnavailable is wrapped by every error that means the list could not be obtained: the
// network, an HTTP status other than 200, a response over the size limit, a timeout. Policies
// may accept a credential whose list is unavailable (fail open); they never accept one whose
// list was fetched and is invalid.
var ErrUnavailable = errors.New("status list unavailable")

// Config configures a Fetcher. Zero values take the documented defaults.
type Config struct {
	// Client fetches lists. Required, and it must set a timeout.
	Client *http.Client
	// MaxSize bounds a fetched list credential in bytes; default DefaultMaxSize.
	MaxSize int64
	// TTL keeps a verified list; default DefaultTTL. A shorter Cache-Control max-age in the
	// response wins; no-store disables caching of that response.
	TTL time.Duration
	// MaxEntries bounds the cache; default DefaultMaxEntries lists.
	MaxEntries int
	// AllowHTTP permits plain-http list URLs (tests on loopback; never in production).
	AllowHTTP bool
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Fetcher fetches status list credentials over HTTP(S) and caches what its caller made of
// them. Concurrent requests for one URL share one fetch, unless it ends because its caller's
// context did: the others then fetch again. It is safe for concurrent use.
type Fetcher struct {
	cfg Config

	mu       sync.Mutex
	entries  map[string]entry
	inflight map[string]*flight
}

type entry struct {
	value   any
	expires time.Time
}

type flight struct {
	done  chan struct{}
	value any
	err   error
	// abandoned: the fetch ended because its caller's context did, which says nothing about
	// the list; callers that shared it and are still waiting fetch again.
	abandoned bool
}

// NewFetcher returns a Fetcher.
func NewFetcher(cfg Config) (*Fetcher, error) {
	if cfg.Client == nil || cfg.Client.Timeout <= 0 {
		return nil, errors.New("status: an HTTP client with a timeout is required")
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Fetcher{cfg: cfg, entries: map[string]entry{}, inflight: map[string]*flight{}}, nil
}

// Parse turns a fetched list credential (body, with its media type) into whatever the caller
// caches, verifying it. Its errors are returned as they are (not as ErrUnavailable).
type Parse func(ctx context.Context, body []byte, mediaType string) (any, error)

// List returns parse's result for the list credential at rawURL, from the cache while fresh.
// Only successful results are cached.
func (f *Fetcher) List(ctx context.Context, rawURL string, parse Parse) (any, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && !(f.cfg.AllowHTTP && u.Scheme == "http")) {
		return nil, fmt.Errorf("status list URL is not an https URL")
	}
	u.Fragment = ""
	key := u.String()
	for {
		now := f.cfg.Now()
		f.mu.Lock()
		if e, ok := f.entries[key]; ok && now.Before(e.expires) {
			f.mu.Unlock()
			return e.value, nil
		}
		fl, ok := f.inflight[key]
		if !ok {
			return f.lead(ctx, key, now, parse) // unlocks f.mu
		}
		f.mu.Unlock()
		select {
		case <-fl.done:
			if fl.abandoned && ctx.Err() == nil {
				continue
			}
			return fl.value, fl.err
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %v", ErrUnavailable, ctx.Err())
		}
	}
}

// lead fetches key on behalf of every caller that arrives meanwhile, and caches a success.
// It is called with f.mu held, and releases it.
func (f *Fetcher) lead(ctx context.Context, key string, now time.Time, parse Parse) (any, error) {
	fl := &flight{done: make(chan struct{})}
	f.inflight[key] = fl
	f.mu.Unlock()

	var ttl time.Duration
	fl.value, ttl, fl.err = f.fetch(ctx, key, parse)
	fl.abandoned = fl.err != nil && ctx.Err() != nil

	f.mu.Lock()
	delete(f.inflight, key)
	if fl.err == nil && ttl > 0 {
		if len(f.entries) >= f.cfg.MaxEntries {
			for k, e := range f.entries {
				if !now.Before(e.expires) || len(f.entries) >= f.cfg.MaxEntries {
					delete(f.entries, k)
				}
			}
		}
		f.entries[key] = entry{value: fl.value, expires: now.Add(ttl)}
	}
	f.mu.Unlock()
	close(fl.done)
	return fl.value, fl.err
}

func (f *Fetcher) fetch(ctx context.Context, u string, parse Parse) (any, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/vc+ld+json, application/ld+json, application/vc+jwt, application/vc, application/json;q=0.9, application/jwt;q=0.9")
	resp, err := f.cfg.Client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: unreachable", ErrUnavailable)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, 0, fmt.Errorf("%w: HTTP %d", ErrUnavailable, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxSize+1))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: read failed", ErrUnavailable)
	}
	if int64(len(body)) > f.cfg.MaxSize {
		return nil, 0, fmt.Errorf("%w: larger than %d bytes", ErrUnavailable, f.cfg.MaxSize)
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	v, err := parse(ctx, body, mediaType)
	if err != nil {
		return nil, 0, err
	}
	return v, cacheTTL(resp.Header.Get("Cache-Control"), f.cfg.TTL), nil
}

// cacheTTL applies a response's Cache-Control to the configured TTL: max-age may shorten it,
// no-store and no-cache disable caching.
func cacheTTL(cc string, ttl time.Duration) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		switch {
		case d == "no-store" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			if s, err := strconv.Atoi(strings.TrimPrefix(d, "max-age=")); err == nil && s >= 0 {
				if age := time.Duration(s) * time.Second; age < ttl {
					ttl = age
				}
			}
		}
	}
	return ttl
}

// Bitstring is a decoded status list: entry i is statusSize bits from bit i×statusSize, the
// first bit being the most significant bit of the first byte (both specifications' order).
type Bitstring []byte

// Decode decodes a list's encodedList: GZIP-compressed, base64url-encoded; Bitstring Status
// List prefixes the base64url with the multibase code "u", StatusList2021 does not (both are
// accepted either way, with or without padding). maxBytes bounds the decompressed size
// (default DefaultMaxListBytes), so a compression bomb cannot exhaust memory.
func Decode(encoded string, maxBytes int) (Bitstring, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxListBytes
	}
	s := strings.TrimPrefix(encoded, "u")
	s = strings.TrimRight(s, "=")
	compressed, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		if compressed, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return nil, errors.New("encodedList is not base64url")
		}
	}
	zr, err := gzip.NewReader(bytes.NewReader(compressed))
	if err != nil {
		return nil, errors.New("encodedList is not GZIP-compressed")
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(maxBytes)+1))
	if err != nil {
		return nil, errors.New("encodedList does not decompress")
	}
	if len(out) > maxBytes {
		return nil, fmt.Errorf("encodedList decompresses to more than %d bytes", maxBytes)
	}
	if len(out) == 0 {
		return nil, errors.New("encodedList is empty")
	}
	return Bitstring(out), nil
}

// Encode is Decode's inverse: GZIP, then base64url without padding, with the multibase "u"
// prefix if multibase (Bitstring Status List) and without (StatusList2021).
func Encode(b Bitstring, multibase bool) (string, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	s := base64.RawURLEncoding.EncodeToString(buf.Bytes())
	if multibase {
		s = "u" + s
	}
	return s, nil
}

// New returns an all-zero list of n entries of statusSize bits (rounded up to whole bytes).
func New(n, statusSize int) Bitstring { return make(Bitstring, (n*statusSize+7)/8) }

// Len returns how many entries of statusSize bits the list holds.
func (b Bitstring) Len(statusSize int) int {
	if statusSize <= 0 {
		return 0
	}
	return len(b) * 8 / statusSize
}

// Get returns entry index, statusSize bits wide (1 to 8).
func (b Bitstring) Get(index, statusSize int) (uint8, error) {
	if statusSize < 1 || statusSize > 8 {
		return 0, errors.New("status size must be 1 to 8 bits")
	}
	if index < 0 || index >= b.Len(statusSize) {
		return 0, fmt.Errorf("index %d is outside a list of %d entries", index, b.Len(statusSize))
	}
	var v uint8
	for i := index * statusSize; i < (index+1)*statusSize; i++ {
		v = v<<1 | (b[i/8]>>(7-uint(i%8)))&1
	}
	return v, nil
}

// Set sets entry index (statusSize bits wide) to value; it panics if index is out of range.
func (b Bitstring) Set(index, statusSize int, value uint8) {
	for k := 0; k < statusSize; k++ {
		i := index*statusSize + k
		bit := (value >> uint(statusSize-1-k)) & 1
		if bit == 1 {
			b[i/8] |= 1 << (7 - uint(i%8))
		} else {
			b[i/8] &^= 1 << (7 - uint(i%8))
		}
	}
}
