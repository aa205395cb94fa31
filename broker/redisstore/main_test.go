package redisstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"

	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// The cluster is the slow part (a second or two to start and join): one serves every test of
// the binary that needs one, started by the first of them and stopped by TestMain.
var (
	clusterOnce sync.Once
	cluster     *redistest.ClusterServers
	clusterErr  error
	clusterDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if cluster != nil {
		_ = cluster.Close()
	}
	if clusterDir != "" {
		_ = os.RemoveAll(clusterDir)
	}
	os.Exit(code)
}

// sharedCluster returns the binary's Redis Cluster, starting it on first use.
func sharedCluster(t testing.TB) *redistest.ClusterServers {
	t.Helper()
	if err := redistest.Missing(); err != nil {
		redistest.Unavailable(t, err.Error())
	}
	clusterOnce.Do(func() {
		clusterDir, clusterErr = os.MkdirTemp("", "redisstore-cluster-")
		if clusterErr == nil {
			cluster, clusterErr = redistest.StartCluster(clusterDir, 3)
		}
	})
	if clusterErr != nil {
		t.Fatalf("start the test cluster: %v", clusterErr)
	}
	return cluster
}

// topologies runs test on a private standalone Redis and on the binary's Cluster, in subtests
// named for them ("standalone", "cluster"), with the server's URL.
func topologies(t *testing.T, test func(t *testing.T, name, url string)) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"standalone", func(t *testing.T) string { return redistest.Server(t).URL() }},
		{"cluster", func(t *testing.T) string { return sharedCluster(t).URL() }},
	} {
		t.Run(tc.name, func(t *testing.T) { test(t, tc.name, tc.url(t)) })
	}
}

// openReplicas opens n stores on url under one fresh prefix, each with its own client, as n
// replicas of the service would.
func openReplicas(t testing.TB, url string, n int) []*redisstore.Store {
	t.Helper()
	prefix := newPrefix()
	replicas := make([]*redisstore.Store, n)
	for i := range replicas {
		replicas[i] = open(t, url, prefix)
	}
	return replicas
}

// testMasterKey seals the service secrets of the stores open opens.
var testMasterKey = []byte("0123456789abcdef0123456789abcdef")

// newPrefix returns a key prefix no other test uses.
func newPrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t" + hex.EncodeToString(b)
}

// open opens a store on url with the given prefix (a fresh one if empty) and closes it when
// the test ends.
func open(t testing.TB, url, prefix string) *redisstore.Store {
	t.Helper()
	if prefix == "" {
		prefix = newPrefix()
	}
	s, err := redisstore.Open(t.Context(), url, redisstore.Options{Prefix: prefix, MasterKey: testMasterKey})
	if err != nil {
		t.Fatalf("Open(%s) = %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
	})
	return s
}
