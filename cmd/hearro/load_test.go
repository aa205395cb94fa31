package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/hearro/trustbroker/broker/redisstore/redistest"
)

// loadResult is one fixed-duration run of the load generator.
type loadResult struct {
	requests int64
	errors   int64
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r loadResult) throughput() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// load sends GET url with header from conns concurrent keep-alive connections for d.
func load(url, auth string, conns int, d time.Duration) loadResult {
	transport := &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, DisableCompression: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 5 * time.Second}
	var n, failed atomic.Int64
	lat := make([][]time.Duration, conns)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			for time.Now().Before(deadline) {
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				n.Add(1)
			}
		}()
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
