// Package redistest runs real Redis servers for tests: a private redis-server per test
// (Server), a three-node Redis Cluster (Cluster, StartCluster), and the developer's or CI's
// shared Redis with a private key prefix (Shared).
//
// Servers listen on 127.0.0.1 only, keep their files in a temporary directory and are stopped
// when the test (or, for StartCluster, the caller) is done. When redis-server or redis-cli is
// not installed, the test is skipped with a message saying so — unless the environment
// variable HEARRO_REQUIRE_REDIS is 1 (CI sets it), in which case the test fails. Shared never
// flushes a database: it deletes only the keys under its own prefix.
//
// redistest depends on go-redis and the standard library only; it must not depend on the
// store packages it helps to test. It is a test helper: it reads HEARRO_REQUIRE_REDIS and
// REDIS_URL from the environment, which library code never does.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequireEnv is the environment variable that turns "Redis is not installed" from a skip into
// a failure.
const RequireEnv = "HEARRO_REQUIRE_REDIS"

// ErrNotInstalled is returned (wrapped) by StartServer and StartCluster when redis-server or
// redis-cli cannot be found.
var ErrNotInstalled = errors.New("Redis is not installed")

// startTimeout bounds how long a server may take to answer PING after it was started.
const startTimeout = 15 * time.Second

// Missing reports which of the Redis binaries the helpers need are not on PATH (nil if none).
func Missing() error {
	var missing []string
	for _, bin := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not found on PATH", ErrNotInstalled, strings.Join(missing, ", "))
	}
	return nil
}

// Unavailable skips the test with reason, or fails it when HEARRO_REQUIRE_REDIS=1.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s (and %s=1 requires Redis)", reason, RequireEnv)
	}
	t.Skipf("%s; skipping (set %s=1 to make this a failure)", reason, RequireEnv)
}

// Option configures a server.
type Option func(*config)

type config struct {
	aof     bool
	cluster bool
	// sentinel, when set, makes the process a Sentinel monitoring this master.
	sentinel *sentinelOf
}

type sentinelOf struct{ name, addr string }

// WithAOF turns the append-only file on (appendfsync everysec), so that data survives Stop and
// Restart. It is off by default: a server then keeps nothing on disk.
func WithAOF(on bool) Option { return func(c *config) { c.aof = on } }

// Redis is one redis-server process on 127.0.0.1. Its methods are safe for concurrent use.
type Redis struct {
	port int
	dir  string
	cfg  config

	mu  sync.Mutex
	cmd *exec.Cmd
	out chan error // the process's exit, once
}

// Server starts a redis-server for the test on a free loopback port, with its data directory
// in t.TempDir(), and stops it when the test ends. Without Redis installed it skips (or fails,
// see the package comment).
func Server(t testing.TB, opts ...Option) *Redis {
	t.Helper()
	if err := Missing(); err != nil {
		Unavailable(t, err.Error())
	}
	r, err := StartServer(t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

// StartServer starts a redis-server with its files in dir, for callers without a testing.TB
// (TestMain); the caller stops it.
func StartServer(dir string, opts ...Option) (*Redis, error) {
	if err := Missing(); err != nil {
		return nil, err
	}
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	var lastErr error
	for range 5 { // a free port can be taken between the probe and the server's bind
		port, err := freePort(cfg.cluster)
		if err != nil {
			return nil, err
		}
		r := &Redis{port: port, dir: dir, cfg: cfg}
		if lastErr = r.start(); lastErr == nil {
			return r, nil
		}
	}
	return nil, lastErr
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

// URL is the server's redis:// URL.
func (r *Redis) URL() string { return "redis://" + r.Addr() }

// Dir is the server's data directory.
func (r *Redis) Dir() string { return r.dir }

func (r *Redis) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return fmt.Errorf("redis-server on port %d is running already", r.port)
	}
	args := []string{
		"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"), "--daemonize", "no",
		"--save", "", "--appendonly", yesNo(r.cfg.aof), "--appendfsync", "everysec",
	}
	if r.cfg.cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000")
	}
	if m := r.cfg.sentinel; m != nil {
		// A Sentinel rewrites its configuration file, so it needs one of its own.
		host, port, _ := net.SplitHostPort(m.addr)
		conf := filepath.Join(r.dir, "sentinel.conf")
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor %s %s %s 1\n",
			r.port, r.dir, filepath.Join(r.dir, "sentinel.log"), m.name, host, port)
		if _, err := os.Stat(conf); err != nil {
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				return err
			}
		}
		args = []string{conf, "--sentinel"}
	}
	cmd := exec.Command("redis-server", args...)
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	out := make(chan error, 1)
	go func() { out <- cmd.Wait() }()
	r.cmd, r.out = cmd, out

	deadline := time.Now().Add(startTimeout)
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), MaxRetries: -1, DialTimeout: time.Second, DisableIdentity: true})
	defer c.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case exit := <-out:
			r.cmd = nil
			return fmt.Errorf("redis-server on port %d exited at start (%v); log: %s", r.port, exit, tail(filepath.Join(r.dir, "redis.log")))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.kill()
			return fmt.Errorf("redis-server on port %d did not answer within %s: %v", r.port, startTimeout, err)
		}
	}
}

// Stop shuts the server down gracefully (SIGTERM: it writes its AOF, if on, and exits), or
// kills it after 10 seconds. Stopping a stopped server does nothing.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.out:
	case <-time.After(10 * time.Second):
		r.kill()
		return fmt.Errorf("redis-server on port %d ignored SIGTERM; killed", r.port)
	}
	r.cmd = nil
	return nil
}

// Kill ends the server at once (SIGKILL), like a crash: what the AOF had not written is lost.
func (r *Redis) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.kill()
}

func (r *Redis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.out
	r.cmd = nil
}

// Restart starts the stopped server again on the same port with the same data directory, and
// waits until it answers (with AOF on, after it has loaded its data).
func (r *Redis) Restart() error {
	if err := r.Stop(); err != nil {
		return err
	}
	return r.start()
}

// Client returns a client of the server, closed when the test ends.
func (r *Redis) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), DisableIdentity: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Sentinel starts a Redis Sentinel for the test that monitors primary under the master name
// name (quorum 1), waits until it knows the primary, and stops it when the test ends.
func Sentinel(t testing.TB, primary *Redis, name string) *Redis {
	t.Helper()
	if err := Missing(); err != nil {
		Unavailable(t, err.Error())
	}
	r, err := StartServer(t.TempDir(), func(c *config) { c.sentinel = &sentinelOf{name: name, addr: primary.Addr()} })
	if err != nil {
		t.Fatalf("redistest: sentinel: %v", err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	c := redis.NewSentinelClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		addr, err := c.GetMasterAddrByName(context.Background(), name).Result()
		if err == nil && len(addr) == 2 && net.JoinHostPort(addr[0], addr[1]) == primary.Addr() {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: sentinel does not know master %s: %v %v", name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Start starts a stopped server again (Restart without the stop).
func (r *Redis) Start() error { return r.start() }

// ClusterServers is a Redis Cluster of primaries on 127.0.0.1, without replicas.
type ClusterServers struct {
	Nodes []*Redis
}

// Cluster starts an n-node Redis Cluster for the test (n <= 0 means 3), each node a primary
// with a third of the slots, waits until the cluster state is ok and stops it when the test
// ends. Starting a cluster takes a second or two: tests that can share one start it once
// (StartCluster in TestMain).
func Cluster(t testing.TB, n int) *ClusterServers {
	t.Helper()
	if err := Missing(); err != nil {
		Unavailable(t, err.Error())
	}
	c, err := StartCluster(t.TempDir(), n)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// StartCluster starts an n-node cluster (n <= 0 means 3) with its files under dir, for
// callers without a testing.TB; the caller closes it.
func StartCluster(dir string, n int) (*ClusterServers, error) {
	if err := Missing(); err != nil {
		return nil, err
	}
	if n <= 0 {
		n = 3
	}
	c := &ClusterServers{}
	fail := func(err error) (*ClusterServers, error) {
		_ = c.Close()
		return nil, err
	}
	for i := range n {
		nodeDir := filepath.Join(dir, fmt.Sprintf("node%d", i))
		if err := os.MkdirAll(nodeDir, 0o700); err != nil {
			return fail(err)
		}
		node, err := StartServer(nodeDir, func(c *config) { c.cluster = true })
		if err != nil {
			return fail(err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out))
	}
	if err := c.waitOK(startTimeout); err != nil {
		return fail(err)
	}
	return c, nil
}

// waitOK waits until every node reports cluster_state:ok with all slots served.
func (c *ClusterServers) waitOK(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, node := range c.Nodes {
		cl := redis.NewClient(&redis.Options{Addr: node.Addr(), DisableIdentity: true})
		for {
			info, err := cl.ClusterInfo(context.Background()).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_slots_ok:16384") {
				break
			}
			if time.Now().After(deadline) {
				cl.Close()
				return fmt.Errorf("cluster node %s not ok after %s: %v %s", node.Addr(), timeout, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
		cl.Close()
	}
	return nil
}

// Addrs returns the nodes' host:port addresses.
func (c *ClusterServers) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// URL is the cluster's redis+cluster:// URL, every node named (see broker/redisstore).
func (c *ClusterServers) URL() string {
	u := "redis+cluster://" + c.Nodes[0].Addr()
	for i, n := range c.Nodes[1:] {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		u += sep + "addr=" + n.Addr()
	}
	return u
}

// Close stops every node.
func (c *ClusterServers) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Stop())
	}
	return errors.Join(errs...)
}

// SharedRedis is a Redis the test does not own, with a key prefix that is the test's alone.
type SharedRedis struct {
	// URL is the server's URL.
	URL string
	// Prefix is a fresh, random key prefix ("hearrotest-…"); the test must write only keys
	// that start with Prefix + ":", which are deleted when it ends.
	Prefix string
	// Client is connected to the server; it is closed when the test ends.
	Client *redis.Client
}

// Shared returns the Redis named by REDIS_URL (a standalone redis:// or rediss:// URL) or, when
// that is unset, the one at 127.0.0.1:6379, with a random key prefix. At cleanup it deletes the
// keys under the prefix (SCAN + UNLINK), never anything else: it never flushes a database. No
// Redis there skips the test (or fails it, see the package comment); a REDIS_URL that does not
// answer fails it.
func Shared(t testing.TB) *SharedRedis {
	t.Helper()
	url, explicit := os.Getenv("REDIS_URL"), true
	if url == "" {
		url, explicit = "redis://127.0.0.1:6379", false
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("redistest: REDIS_URL must be a standalone redis:// or rediss:// URL: %v", err)
	}
	opt.DisableIdentity = true
	client := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	err = client.Ping(ctx).Err()
	cancel()
	if err != nil {
		client.Close()
		if explicit {
			t.Fatalf("redistest: REDIS_URL does not answer: %v", err)
		}
		Unavailable(t, "no Redis answers at 127.0.0.1:6379 and REDIS_URL is not set")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	shared := &SharedRedis{URL: url, Prefix: "hearrotest-" + hex.EncodeToString(b), Client: client}
	t.Cleanup(func() {
		defer client.Close()
		if n, err := shared.deleteKeys(context.Background()); err != nil {
			t.Errorf("redistest: deleting the %d keys under %s: %v", n, shared.Prefix, err)
		}
	})
	return shared
}

// deleteKeys deletes every key under the prefix and returns how many it found.
func (s *SharedRedis) deleteKeys(ctx context.Context) (int, error) {
	n := 0
	iter := s.Client.Scan(ctx, 0, escapeGlob(s.Prefix)+":*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		n++
		if len(batch) == 500 {
			if err := s.Client.Unlink(ctx, batch...).Err(); err != nil {
				return n, err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return n, err
	}
	if len(batch) > 0 {
		return n, s.Client.Unlink(ctx, batch...).Err()
	}
	return n, nil
}

// escapeGlob escapes the characters SCAN MATCH treats as special.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// freePort finds a loopback port nobody listens on; for a cluster node, its bus port (+10000)
// must be free too, so it is taken from a range where that stays below 65536.
func freePort(cluster bool) (int, error) {
	for range 100 {
		port := 0
		if cluster {
			n, err := rand.Int(rand.Reader, big.NewInt(20000))
			if err != nil {
				return 0, err
			}
			port = 20000 + int(n.Int64())
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		if cluster {
			bus, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
			if err != nil {
				continue
			}
			bus.Close()
		}
		return port, nil
	}
	return 0, errors.New("no free loopback port found")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
