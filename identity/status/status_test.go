package status_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hearro/trustbroker/identity/status"
)

// The all-zero 16 KiB (131,072-entry) list of the StatusList2021 and Bitstring Status List
// specifications' examples.
const specEmptyList = "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"

func TestDecodeSpecExample(t *testing.T) {
	for _, enc := range []string{specEmptyList, "u" + specEmptyList} {
		b, err := status.Decode(enc, 0)
		if err != nil {
			t.Fatal(err)
		}
		if b.Len(1) != 131072 {
			t.Fatalf("%d entries", b.Len(1))
		}
		if v, _ := b.Get(131071, 1); v != 0 {
			t.Fatal("the example list is all zero")
		}
	}
}

func TestBitOrder(t *testing.T) {
	b := status.New(16, 1)
	b.Set(0, 1, 1)
	b.Set(9, 1, 1)
	if b[0] != 0x80 || b[1] != 0x40 {
		t.Fatalf("bytes % x: index 0 is the most significant bit of the first byte", []byte(b))
	}
	enc, _ := status.Encode(b, true)
	got, err := status.Decode(enc, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]uint8{0: 1, 1: 0, 9: 1, 15: 0} {
		if v, _ := got.Get(i, 1); v != want {
			t.Fatalf("entry %d = %d", i, v)
		}
	}
	if _, err := got.Get(16, 1); err == nil {
		t.Fatal("index beyond the list")
	}
	two := status.New(4, 2)
	two.Set(1, 2, 3)
	if v, _ := two.Get(1, 2); v != 3 || two[0] != 0x30 {
		t.Fatalf("2-bit entry: % x", []byte(two))
	}
}

func TestDecodeRefusesBombs(t *testing.T) {
	big, _ := status.Encode(status.New(1<<24, 1), false)
	if _, err := status.Decode(big, 1<<16); err == nil {
		t.Fatal("a list larger than the limit was decoded")
	}
}

// listServer serves body on loopback, counting requests; delay holds each response (or until
// the client gives up), and header sets response headers.
type listServer struct {
	*httptest.Server
	hits   atomic.Int64
	delay  atomic.Int64
	status atomic.Int64
}

func newListServer(t *testing.T, body []byte, header map[string]string) *listServer {
	s := &listServer{}
	s.status.Store(http.StatusOK)
	s.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		select {
		case <-time.After(time.Duration(s.delay.Load())):
		case <-r.Context().Done():
			return
		}
		for k, v := range header {
			rw.Header().Set(k, v)
		}
		rw.WriteHeader(int(s.status.Load()))
		rw.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func newFetcher(t *testing.T, cfg status.Config) *status.Fetcher {
	t.Helper()
	if cfg.Client == nil {
		cfg.Client = &http.Client{Timeout: 2 * time.Second}
	}
	cfg.AllowHTTP = true
	f, err := status.NewFetcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// parsed is a Parse that accepts anything and counts its calls.
func parsed(calls *atomic.Int64) status.Parse {
	return func(_ context.Context, body []byte, _ string) (any, error) {
		calls.Add(1)
		return len(body), nil
	}
}

func TestFetcherRefusesWhatItCannotObtain(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *listServer, cfg *status.Config)
	}{
		{"list larger than the size limit", func(_ *listServer, cfg *status.Config) { cfg.MaxSize = 1024 }},
		{"server slower than the timeout", func(s *listServer, cfg *status.Config) {
			s.delay.Store(int64(10 * time.Second))
			cfg.Client = &http.Client{Timeout: 100 * time.Millisecond}
		}},
		{"HTTP error", func(s *listServer, _ *status.Config) { s.status.Store(http.StatusBadGateway) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newListServer(t, bytes.Repeat([]byte("a"), 1025), nil)
			cfg := status.Config{}
			tc.setup(s, &cfg)
			f := newFetcher(t, cfg)
			var calls atomic.Int64
			start := time.Now()
			for range 2 {
				if _, err := f.List(context.Background(), s.URL+"/list", parsed(&calls)); !errors.Is(err, status.ErrUnavailable) {
					t.Fatalf("error %v, want ErrUnavailable", err)
				}
			}
			if calls.Load() != 0 {
				t.Fatal("what could not be obtained was parsed")
			}
			if s.hits.Load() != 2 {
				t.Fatalf("%d requests for two lookups: a failure was cached", s.hits.Load())
			}
			if time.Since(start) > 5*time.Second {
				t.Fatal("the timeout did not cut the request short")
			}
		})
	}
}

func TestFetcherRefusesPlainHTTP(t *testing.T) {
	f, err := status.NewFetcher(status.Config{Client: &http.Client{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"http://127.0.0.1:1/list", "https://user:pw@example.com/list", "/relative", "ftp://example.com/list"} {
		if _, err := f.List(context.Background(), u, parsed(new(atomic.Int64))); err == nil {
			t.Fatalf("%s was fetched", u)
		}
	}
}

func TestFetcherCachesVerifiedLists(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		kept         time.Duration // 0: not kept
	}{
		{"for the TTL", "", time.Minute},
		{"for a shorter max-age", "public, max-age=10", 10 * time.Second},
		{"not beyond the TTL for a longer max-age", "max-age=86400", time.Minute},
		{"never with no-store", "no-store", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newListServer(t, []byte("list"), map[string]string{"Cache-Control": tc.cacheControl})
			var clock atomic.Int64
			f := newFetcher(t, status.Config{TTL: time.Minute, Now: func() time.Time { return time.Unix(0, clock.Load()) }})
			var calls atomic.Int64
			get := func() {
				t.Helper()
				if v, err := f.List(context.Background(), s.URL+"/list#frag", parsed(&calls)); err != nil || v != 4 {
					t.Fatalf("%v, %v", v, err)
				}
			}
			get()
			if tc.kept > 0 {
				clock.Add(int64(tc.kept - time.Nanosecond))
				get()
				if s.hits.Load() != 1 {
					t.Fatalf("%d fetches within %s", s.hits.Load(), tc.kept)
				}
				clock.Add(1)
			}
			get()
			if s.hits.Load() != 2 || calls.Load() != 2 {
				t.Fatalf("%d fetches, %d parses, want 2", s.hits.Load(), calls.Load())
			}
		})
	}
	t.Run("not when the list does not verify", func(t *testing.T) {
		s := newListServer(t, []byte("forged"), nil)
		f := newFetcher(t, status.Config{})
		bad := errors.New("bad signature")
		for range 2 {
			if _, err := f.List(context.Background(), s.URL, func(context.Context, []byte, string) (any, error) { return nil, bad }); !errors.Is(err, bad) || errors.Is(err, status.ErrUnavailable) {
				t.Fatalf("error %v: an invalid list is not an unavailable one", err)
			}
		}
		if s.hits.Load() != 2 {
			t.Fatal("an invalid list was cached")
		}
	})
}

func TestFetcherSharesConcurrentFetches(t *testing.T) {
	s := newListServer(t, []byte("list"), nil)
	s.delay.Store(int64(50 * time.Millisecond))
	f := newFetcher(t, status.Config{})
	var calls atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := f.List(context.Background(), s.URL+"/list", parsed(&calls)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if s.hits.Load() != 1 || calls.Load() != 1 {
		t.Fatalf("%d fetches and %d parses for 16 concurrent callers, want 1", s.hits.Load(), calls.Load())
	}
}

// TestFetcherAbandonedFetch: a fetch cut short by its caller's context is not handed to the
// callers that shared it; they fetch again.
func TestFetcherAbandonedFetch(t *testing.T) {
	s := newListServer(t, []byte("list"), nil)
	s.delay.Store(int64(200 * time.Millisecond))
	f := newFetcher(t, status.Config{})
	var calls atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	leader := make(chan error, 1)
	go func() { _, err := f.List(ctx, s.URL+"/list", parsed(&calls)); leader <- err }()
	for s.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	waiter := make(chan error, 1)
	go func() { _, err := f.List(context.Background(), s.URL+"/list", parsed(&calls)); waiter <- err }()
	time.Sleep(20 * time.Millisecond) // let it join the leader's fetch
	cancel()
	if err := <-leader; !errors.Is(err, status.ErrUnavailable) {
		t.Fatalf("the cancelled caller: %v", err)
	}
	if err := <-waiter; err != nil {
		t.Fatalf("a caller sharing a cancelled fetch got its failure: %v", err)
	}
}
