package redisstore_test

import (
	"fmt"
	"slices"
	"testing"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/agentspi/agentspitest"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// TestAgentStorage runs the agent storage suite (aries-framework-go's own, with no skips, and
// ours) on a standalone Redis and on a Cluster, each backend under a fresh prefix.
func TestAgentStorage(t *testing.T) {
	topologies(t, func(t *testing.T, _, url string) {
		agentspitest.Run(t, func(t *testing.T) (broker.Store, spi.Provider) {
			s := open(t, url, "")
			return s, s.AgentStorage()
		})
	})
}

// TestAgentStore checks what only the Redis agent storage promises.
func TestAgentStore(t *testing.T) {
	srv := redistest.Server(t)
	t.Run("any bytes in tag values, invalid UTF-8 included", func(t *testing.T) {
		tags := []spi.Tag{{Name: "n\x00", Value: "\x01v é\xff"}, {Name: "n", Value: ""}, {Name: "12", Value: "3"}}
		agentspitest.AnyBytes(t, open(t, srv.URL(), "").AgentStorage(), "k\x00\xff é{}", tags, "n\x00:\x01v é\xff")
	})
	t.Run("two replicas share stores, configurations and shard counts", func(t *testing.T) {
		prefix := newPrefix()
		a := open(t, srv.URL(), prefix)
		b, err := redisstore.Open(t.Context(), srv.URL(), redisstore.Options{Prefix: prefix, AgentShards: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		sa, err := a.AgentStorage().OpenStore("Connections")
		if err != nil {
			t.Fatal(err)
		}
		if err := a.AgentStorage().SetStoreConfig("connections", spi.StoreConfiguration{TagNames: []string{"theirDID"}}); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := sa.Put(fmt.Sprintf("conn_%d", i), []byte("x"), spi.Tag{Name: "theirDID", Value: fmt.Sprint(i % 2)}); err != nil {
				t.Fatal(err)
			}
		}
		// b asks for 3 shards, but the store was created with 16 and keeps them.
		sb, err := b.AgentStorage().OpenStore("CONNECTIONS")
		if err != nil {
			t.Fatal(err)
		}
		if c, err := b.AgentStorage().GetStoreConfig("connections"); err != nil || !slices.Equal(c.TagNames, []string{"theirDID"}) {
			t.Errorf("GetStoreConfig on the other replica = %+v, %v", c, err)
		}
		if v, err := sb.Get("conn_7"); err != nil || string(v) != "x" {
			t.Errorf("Get on the other replica = %q, %v", v, err)
		}
		it, err := sb.Query("theirDID:1")
		if err != nil {
			t.Fatal(err)
		}
		defer it.Close()
		if n, _ := it.TotalItems(); n != 10 {
			t.Errorf("query on the other replica matched %d records, want 10", n)
		}
	})
}
