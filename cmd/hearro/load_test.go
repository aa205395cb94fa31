package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// loadResult is one fixed-duration run of the load generator.
type loadResult struct {
	requests int64
	errors   int64
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r loadResult) throughput() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// load sends GET url with header auth from conns concurrent keep-alive connections for d, as
// wrk does: each connection writes one prepared HTTP/1.1 request and reads its response before
// the next, with a minimal parser (status line, Content-Length or chunked body), so that the
// load generator, which shares the machine's cores with the server, costs a fraction of what
// net/http's client would and the figures are the server's.
func load(rawURL, auth string, conns int, d time.Duration) loadResult {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\n"
	if auth != "" {
		req += "Authorization: " + auth + "\r\n"
	}
	request := []byte(req + "\r\n")
	var n, failed atomic.Int64
	lat := make([][]time.Duration, conns)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			var c net.Conn
			var r *bufio.Reader
			for time.Now().Before(deadline) {
				if c == nil {
					var err error
					if c, err = net.DialTimeout("tcp", u.Host, 5*time.Second); err != nil {
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					r = bufio.NewReaderSize(c, 16<<10)
				}
				t0 := time.Now()
				_ = c.SetDeadline(t0.Add(5 * time.Second))
				status, err := roundTrip(c, r, request)
				if err != nil {
					failed.Add(1)
					c.Close()
					c = nil
					continue
				}
				if status != http.StatusOK {
					failed.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				n.Add(1)
			}
			if c != nil {
				c.Close()
			}
		})
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	res := loadResult{requests: n.Load(), errors: failed.Load(), elapsed: time.Since(start)}
	if len(all) > 0 {
		res.p50, res.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	return res
}

// roundTrip writes request on c and reads one HTTP/1.1 response from r, discarding its body;
// it returns the status code.
func roundTrip(c net.Conn, r *bufio.Reader, request []byte) (int, error) {
	if _, err := c.Write(request); err != nil {
		return 0, err
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := -1, false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		h := bytes.TrimRight(line, "\r\n")
		if len(h) == 0 {
			break
		}
		name, value, _ := bytes.Cut(h, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, err
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		}
	}
	switch {
	case chunked:
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return 0, err
			}
			size, err := strconv.ParseInt(string(bytes.TrimRight(line, "\r\n")), 16, 64)
			if err != nil {
				return 0, err
			}
			if _, err := r.Discard(int(size) + 2); err != nil { // the chunk and its CRLF
				return 0, err
			}
			if size == 0 {
				return status, nil
			}
		}
	case length >= 0:
		_, err = r.Discard(length)
		return status, err
	}
	return 0, errors.New("response without Content-Length or chunked body")
}

// BenchmarkIdentityLookupLoad is the CRM's hot path under load: GET /v1/identities/{id} with a
// valid access token, the service on Redis, 64 concurrent connections on loopback — next to a
// bare Echo handler returning the same JSON bytes, in the same run. Each iteration is one
// 3-second run of each; run with -benchtime 1x -count 6 and take medians:
//
//	go test ./cmd/hearro -run '^$' -bench IdentityLookupLoad -benchtime 1x -count 6
//
// "cached" is the default configuration (--identity-cache-ttl 1s); "uncached" reads Redis on
// every request (--identity-cache-ttl 0).
func BenchmarkIdentityLookupLoad(b *testing.B) {
	if testing.Short() {
		b.Skip("load benchmark")
	}
	b.Run("cached", func(b *testing.B) { benchmarkIdentityLookupLoad(b, time.Second) })
	b.Run("uncached", func(b *testing.B) { benchmarkIdentityLookupLoad(b, 0) })
}

func benchmarkIdentityLookupLoad(b *testing.B, cacheTTL time.Duration) {
	srv := redistest.Server(b)
	s := startTestServiceWith(b, func(c *serveConfig) {
		c.RedisURL, c.MasterKey = srv.URL(), "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
		c.LogLevel = "error"
		c.IdentityCacheTTL = cacheTTL
	})
	c := s.createSession(b)
	if _, progress, err := runWallet(b, b.TempDir(), c.InvitationURL, nil); err != nil {
		b.Fatalf("wallet: %v\n%s", err, progress)
	}
	st := s.waitStatus(b, c, "bound")
	url := s.url + "/v1/identities/" + st.IdentityID
	auth := s.crmToken(b, "identities:read")
	resp, body := doTB(b, url, auth)
	if resp.StatusCode != 200 {
		b.Fatalf("identity: %d", resp.StatusCode)
	}

	// The bare handler: Echo, the same JSON, no authentication, no store.
	bare := echo.New()
	bare.HideBanner, bare.HidePort = true, true
	bare.GET("/v1/identities/:id", func(c echo.Context) error { return c.JSONBlob(http.StatusOK, body) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	bareSrv := &http.Server{Handler: bare}
	go bareSrv.Serve(ln)
	defer bareSrv.Shutdown(context.Background())
	bareURL := "http://" + ln.Addr().String() + "/v1/identities/" + st.IdentityID

	const conns, d = 64, 3 * time.Second
	load(url, auth, conns, time.Second) // warm up both
	load(bareURL, "", conns, time.Second)
	b.ResetTimer()
	var svc, raw loadResult
	for range b.N {
		raw = load(bareURL, "", conns, d)
		svc = load(url, auth, conns, d)
	}
	b.StopTimer()
	if svc.errors > 0 || raw.errors > 0 {
		b.Fatalf("errors: service %d, bare %d", svc.errors, raw.errors)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(svc.throughput(), "req/s")
	b.ReportMetric(ms(svc.p99), "p99-ms")
	b.ReportMetric(raw.throughput(), "bare-req/s")
	b.ReportMetric(ms(raw.p99), "bare-p99-ms")
	b.ReportMetric(svc.throughput()/raw.throughput(), "x-bare")
}

func doTB(tb testing.TB, url, auth string) (*http.Response, []byte) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestLoadGeneratorReadsWhatServersSend: the benchmark's minimal HTTP client reads responses
// with a Content-Length, chunked ones and errors on one keep-alive connection, and counts
// only 200s as served.
func TestLoadGeneratorReadsWhatServersSend(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/chunked":
			w.Write([]byte(strings.Repeat("x", 10_000)))
			w.(http.Flusher).Flush()
			w.Write([]byte("tail"))
		case "/missing":
			http.NotFound(w, r)
		default:
			if r.Header.Get("Authorization") != "Bearer t" {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()
	for _, path := range []string{"/plain", "/chunked"} {
		res := load(srv.URL+path, "Bearer t", 2, 200*time.Millisecond)
		if res.requests == 0 || res.errors != 0 || res.p99 <= 0 {
			t.Errorf("%s: %+v", path, res)
		}
	}
	if res := load(srv.URL+"/missing", "", 1, 100*time.Millisecond); res.requests != 0 || res.errors == 0 {
		t.Errorf("404s counted as served: %+v", res)
	}
	if res := load(srv.URL+"/plain", "", 1, 100*time.Millisecond); res.requests != 0 || res.errors == 0 {
		t.Errorf("401s counted as served: %+v", res)
	}
	// Every request the generator counted reached the server: none was lost in parsing.
	before := hits.Load()
	res := load(srv.URL+"/chunked", "Bearer t", 1, 100*time.Millisecond)
	if got := hits.Load() - before; got != res.requests {
		t.Errorf("server saw %d requests, the generator counted %d", got, res.requests)
	}
}
