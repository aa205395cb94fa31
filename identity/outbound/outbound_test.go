package outbound_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hearro/trustbroker/identity/outbound"
)

// The addresses an attacker would aim the service at, and that a network namespace lets a
// test listen on: a private address and the cloud metadata service.
const (
	privateAddr  = "10.0.0.1"
	metadataAddr = "169.254.169.254"
	// netnsEnv marks the copy of the test binary that runs inside its own network namespace.
	netnsEnv = "HEARRO_OUTBOUND_NETNS"
)

// TestRefusedTargetsAreNeverConnected is case 5 of the verification issue, on the client every
// fetch goes through: each target an unauthenticated party could name (loopback, 10/8, the
// metadata service, [::1], a name resolving to 127.0.0.1, a redirect to a private address, a
// redirect from https to http) listens and counts the connections it accepts, and must count
// none. 10/8 and 169.254.169.254 can only be listened on inside a network namespace of the
// test's own (unshare -rn); without one they are checked for the refusal alone, unless
// HEARRO_REQUIRE_NETNS=1 says the namespace must be there.
func TestRefusedTargetsAreNeverConnected(t *testing.T) {
	if os.Getenv(netnsEnv) != "1" {
		if out, err := runInNetns(t, "TestRefusedTargetsAreNeverConnected"); err == nil {
			t.Logf("ran in a network namespace of its own:\n%s", out)
			return
		} else if os.Getenv("HEARRO_REQUIRE_NETNS") == "1" {
			t.Fatalf("a network namespace is required (HEARRO_REQUIRE_NETNS=1): %v\n%s", err, out)
		} else {
			t.Logf("no network namespace (%v): %s and %s are checked for refusal only", err, privateAddr, metadataAddr)
		}
	}
	inNetns := os.Getenv(netnsEnv) == "1"

	// A stand-in for a public server: 127.0.0.2 is allowed by configuration, as a test must.
	public := netip.MustParsePrefix("127.0.0.2/32")
	client := outbound.New(outbound.Config{Allow: []netip.Prefix{public}, TLS: trustAll()})

	loopback := listen(t, "127.0.0.1:0")
	v6 := listen(t, "[::1]:0")
	plainHTTP := listen(t, "127.0.0.2:0")
	cases := []struct {
		name    string
		url     string
		targets []*counter
	}{
		{"loopback", "https://" + loopback.addr + "/did.json", []*counter{loopback}},
		{"ipv6 loopback", "https://" + v6.addr + "/did.json", []*counter{v6}},
		{"name resolving to 127.0.0.1", "https://localhost:" + loopback.port() + "/did.json", []*counter{loopback}},
		{"ipv4-mapped loopback", "https://[::ffff:127.0.0.1]:" + loopback.port() + "/", []*counter{loopback}},
		{"redirect to a private address", redirector(t, "https://"+loopback.addr+"/internal/admin"), []*counter{loopback}},
		{"redirect from https to http", redirector(t, "http://"+plainHTTP.addr+"/"), []*counter{plainHTTP}},
	}
	if inNetns {
		private := listen(t, privateAddr+":0")
		metadata := listen(t, metadataAddr+":80")
		cases = append(cases,
			struct {
				name    string
				url     string
				targets []*counter
			}{"10/8", "https://" + private.addr + "/", []*counter{private}},
			struct {
				name    string
				url     string
				targets []*counter
			}{"cloud metadata", "http://" + metadataAddr + "/latest/meta-data/", []*counter{metadata}},
			struct {
				name    string
				url     string
				targets []*counter
			}{"redirect to the metadata service", redirector(t, "https://"+metadataAddr+":80/latest/meta-data/"), []*counter{metadata}},
		)
	} else {
		for _, u := range []string{"https://" + privateAddr + ":443/", "http://" + metadataAddr + "/latest/meta-data/"} {
			_, err := client.Get(u)
			if !errors.Is(err, outbound.ErrRefusedAddress) {
				t.Errorf("GET %s: %v, want a refused address", u, err)
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := client.Get(c.url)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET %s: HTTP %d, want a refusal", c.url, resp.StatusCode)
			}
			if !outbound.Refused(err) {
				t.Errorf("GET %s: %v, want a refusal of the client, not a failed connection", c.url, err)
			}
			for _, target := range c.targets {
				if n := target.n.Load(); n != 0 {
					t.Errorf("%s accepted %d connections, want 0", target.addr, n)
				}
			}
		})
	}
}

// TestAllowedNetworksAreReached keeps the refusals honest: the same listeners, allowed by
// configuration, are connected to.
func TestAllowedNetworksAreReached(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer srv.Close()
	allow, err := outbound.ParseNetworks([]string{"127.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	client := outbound.New(outbound.Config{Allow: allow, TLS: trustAll()})
	resp, err := client.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET an allowed address: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok" {
		t.Fatalf("body %q", body)
	}
	if _, err := outbound.ParseNetworks([]string{"10.0.0.0/33"}); err == nil {
		t.Error("10.0.0.0/33 parsed")
	}
}

// TestLargeBodiesAreCutOff: a 10 MB answer is not read past the cap, announced or not.
func TestLargeBodiesAreCutOff(t *testing.T) {
	const size = 10 << 20
	var written atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("announce") {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		chunk := make([]byte, 32<<10)
		for sent := 0; sent < size; sent += len(chunk) {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	const max = 1 << 20
	client := outbound.New(outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, TLS: trustAll(), MaxBody: max})

	resp, err := client.Get(srv.URL + "/?announce")
	if !errors.Is(err, outbound.ErrTooLarge) {
		if err == nil {
			resp.Body.Close()
		}
		t.Errorf("announced 10 MB: %v, want ErrTooLarge before the body is read", err)
	}

	resp, err = client.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !errors.Is(err, outbound.ErrTooLarge) || n > max {
		t.Errorf("streamed 10 MB: read %d bytes, %v; want at most %d and ErrTooLarge", n, err, max)
	}
}

func TestTooManyRedirectsAreRefused(t *testing.T) {
	var hops atomic.Int64
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		http.Redirect(w, r, srv.URL+"/again", http.StatusFound)
	}))
	defer srv.Close()
	client := outbound.New(outbound.Config{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, TLS: trustAll(), MaxRedirects: 2})
	if _, err := client.Get(srv.URL); !errors.Is(err, outbound.ErrRefusedRedirect) {
		t.Errorf("endless redirects: %v", err)
	}
	if n := hops.Load(); n != 3 {
		t.Errorf("%d requests, want 3 (the first and two redirects)", n)
	}
}

func TestAllowed(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700:4700::1111": true, "1.1.1.1": true,
		"127.0.0.1": false, "127.9.9.9": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false,
		"::": false, "224.0.0.1": false, "255.255.255.255": false, "fd00::1": false, "fe80::1": false,
		"::ffff:10.0.0.1": false, "::ffff:8.8.8.8": true, "64:ff9b::a00:1": false, "2002:a00:1::": false,
		"198.18.0.1": false, "240.0.0.1": false, "ff02::1": false,
	} {
		if got := outbound.Allowed(netip.MustParseAddr(addr), nil); got != want {
			t.Errorf("Allowed(%s) = %v, want %v", addr, got, want)
		}
	}
}

// counter is a TCP listener that counts the connections it accepts.
type counter struct {
	addr string
	n    atomic.Int64
}

func (c *counter) port() string { _, p, _ := net.SplitHostPort(c.addr); return p }

func listen(t *testing.T, addr string) *counter {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	c := &counter{addr: ln.Addr().String()}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			c.n.Add(1)
			conn.Close()
		}
	}()
	return c
}

// redirector serves https on the allowed stand-in public address and redirects to target.
func redirector(t *testing.T, target string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/did.json"
}

func trustAll() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec // test servers only

// runInNetns runs one test of this binary again inside a new user and network namespace
// whose loopback also carries the private and metadata addresses.
func runInNetns(t *testing.T, test string) (string, error) {
	if _, err := exec.LookPath("unshare"); err != nil {
		return "", err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "", err
	}
	script := strings.Join([]string{
		"set -e",
		"ip link set lo up",
		"ip addr add " + privateAddr + "/8 dev lo",
		"ip addr add " + metadataAddr + "/32 dev lo",
		`exec "$0" -test.run '^` + test + `$' -test.v -test.count=1`,
	}, "\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-rn", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "--- FAIL") {
		t.Fatalf("in the network namespace:\n%s", out)
	}
	return string(out), err
}
