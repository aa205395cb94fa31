package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	afgstoragetest "github.com/hyperledger/aries-framework-go/test/component/storage"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/agentspi/agentspitest"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// TestAgentStorageConformance runs aries-framework-go's own storage suite with no skips —
// sorting, initial pages and TotalItems included — on a standalone Redis and on a Cluster.
func TestAgentStorageConformance(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		s := open(t, redistest.Server(t).URL(), "")
		afgstoragetest.TestAll(t, s.AgentStorage())
		providerWorksAfterClose(t, s)
	})
	t.Run("cluster", func(t *testing.T) {
		s := open(t, sharedCluster(t).URL(), "")
		afgstoragetest.TestAll(t, s.AgentStorage())
		providerWorksAfterClose(t, s)
	})
}

func providerWorksAfterClose(t *testing.T, s *redisstore.Store) {
	t.Run("provider works after Close", func(t *testing.T) {
		p := s.AgentStorage()
		st, err := p.OpenStore("after-close")
		if err != nil {
			t.Fatalf("OpenStore after Close = %v", err)
		}
		if err := st.Put("k", []byte("v")); err != nil {
			t.Fatalf("Put = %v", err)
		}
		if v, err := st.Get("k"); err != nil || string(v) != "v" {
			t.Errorf("Get = %q, %v", v, err)
		}
		if n := len(p.GetOpenStores()); n != 1 {
			t.Errorf("GetOpenStores has %d stores, want 1", n)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Provider.Close closed the store: Ping = %v", err)
		}
	})
}

// openAgentStore opens an agent store with the given records under a fresh prefix.
func openAgentStore(t *testing.T, url string, records map[string][]spi.Tag) spi.Store {
	t.Helper()
	s, err := open(t, url, "").AgentStorage().OpenStore("test")
	if err != nil {
		t.Fatal(err)
	}
	for key, tags := range records {
		if err := s.Put(key, []byte("value-"+key), tags...); err != nil {
			t.Fatalf("Put(%q) = %v", key, err)
		}
	}
	return s
}

func TestAgentQuery(t *testing.T) {
	url := redistest.Server(t).URL()
	agentspitest.Run(t, func(t *testing.T, records map[string][]spi.Tag) spi.Store { return openAgentStore(t, url, records) })
}

func TestAgentStore(t *testing.T) {
	srv := redistest.Server(t)
	t.Run("batch over several shards with IsNewKey on an existing key changes nothing", func(t *testing.T) {
		s := openAgentStore(t, srv.URL(), map[string][]spi.Tag{"old": {{Name: "t"}}})
		ops := []spi.Operation{{Key: "old", Value: nil}}
		for i := range 40 { // 40 keys land in most of the 16 shards
			ops = append(ops, spi.Operation{Key: fmt.Sprintf("new%d", i), Value: []byte("v"), Tags: []spi.Tag{{Name: "t"}}})
		}
		ops = append(ops, spi.Operation{Key: "old2", Value: []byte("again"), PutOptions: &spi.PutOptions{IsNewKey: true}})
		if err := s.Put("old2", []byte("value-old2")); err != nil {
			t.Fatal(err)
		}
		if err := s.Batch(ops); !errors.Is(err, spi.ErrDuplicateKey) {
			t.Fatalf("Batch = %v, want ErrDuplicateKey", err)
		}
		if _, err := s.Get("new0"); !errors.Is(err, spi.ErrDataNotFound) {
			t.Errorf("Get(new0) after the failed batch = %v, want ErrDataNotFound", err)
		}
		if got, _ := agentspitest.Collect(t, s, "t"); !slices.Equal(got, []string{"old"}) {
			t.Errorf("query after the failed batch = %v, want [old]", got)
		}
	})
	t.Run("batch: IsNewKey after a delete of the same key is allowed", func(t *testing.T) {
		s := openAgentStore(t, srv.URL(), map[string][]spi.Tag{"k": nil, "j": nil})
		err := s.Batch([]spi.Operation{
			{Key: "k", Value: nil},
			{Key: "k", Value: []byte("value-k"), PutOptions: &spi.PutOptions{IsNewKey: true}, Tags: []spi.Tag{{Name: "t"}}},
			{Key: "j", Value: []byte("value-j"), Tags: []spi.Tag{{Name: "t"}}},
			{Key: "x", Value: []byte("value-x"), PutOptions: &spi.PutOptions{IsNewKey: true}},
		})
		if err != nil {
			t.Fatalf("Batch = %v", err)
		}
		if got, _ := agentspitest.Collect(t, s, "t"); !slices.Equal(got, []string{"j", "k"}) {
			t.Errorf("query = %v, want [j k]", got)
		}
	})
	t.Run("tag rules", func(t *testing.T) {
		s := openAgentStore(t, srv.URL(), nil)
		for name, tags := range map[string][]spi.Tag{
			"empty name":       {{Value: "v"}},
			"name with colon":  {{Name: "a:b"}},
			"value with colon": {{Name: "a", Value: "did:key:z"}},
			"same name twice":  {{Name: "a", Value: "1"}, {Name: "a", Value: "2"}},
		} {
			if err := s.Put("k", []byte("v"), tags...); err == nil {
				t.Errorf("Put with %s = nil error", name)
			}
			if err := s.Batch([]spi.Operation{{Key: "k", Value: []byte("v"), Tags: tags}}); err == nil {
				t.Errorf("Batch with %s = nil error", name)
			}
		}
		if _, err := s.Get("k"); !errors.Is(err, spi.ErrDataNotFound) {
			t.Errorf("a refused Put stored something: %v", err)
		}
	})
	t.Run("any bytes in store names, keys, tag names and values", func(t *testing.T) {
		st := open(t, srv.URL(), "")
		for _, name := range []string{"a}b", "{x}", "50%/2", "ünï"} {
			s, err := st.AgentStorage().OpenStore(name)
			if err != nil {
				t.Fatalf("OpenStore(%q) = %v", name, err)
			}
			key := "k\x00\xff é{}"
			tags := []spi.Tag{{Name: "n\x00", Value: "\x01v é\xff"}, {Name: "n", Value: ""}, {Name: "12", Value: "3"}}
			if err := s.Put(key, []byte{}, tags...); err != nil {
				t.Fatalf("Put = %v", err)
			}
			if v, err := s.Get(key); err != nil || v == nil || len(v) != 0 {
				t.Errorf("Get of an empty value = %q (nil %v), %v; want an empty, non-nil value", v, v == nil, err)
			}
			if got, err := s.GetTags(key); err != nil || len(got) != 3 || got[0] != tags[0] {
				t.Errorf("GetTags = %q, %v", got, err)
			}
			for _, expr := range []string{"n\x00", "n\x00:\x01v é\xff", "n", "12:3"} {
				it, err := s.Query(expr)
				if err != nil {
					t.Fatalf("Query(%q) = %v", expr, err)
				}
				ok, _ := it.Next()
				k, _ := it.Key()
				if !ok || k != key {
					t.Errorf("store %q: Query(%q) found %q, %v; want the record", name, expr, k, ok)
				}
				it.Close()
			}
		}
	})
	t.Run("agent data is apart from the broker's", func(t *testing.T) {
		st := open(t, srv.URL(), "")
		s, err := st.AgentStorage().OpenStore("sessions")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put("s1", []byte(`{"id":"s1","status":"created"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Session(t.Context(), "s1"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("broker Session(s1) = %v, want ErrNotFound", err)
		}
		if err := st.CreateSession(t.Context(), &broker.Session{ID: "s2", Status: broker.StatusCreated}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get("s2"); !errors.Is(err, spi.ErrDataNotFound) {
			t.Errorf("agent Get(s2) = %v, want ErrDataNotFound", err)
		}
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
