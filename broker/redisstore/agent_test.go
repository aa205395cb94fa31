package redisstore_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	afgstoragetest "github.com/hyperledger/aries-framework-go/test/component/storage"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/broker/redisstore/redistest"
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

// collect runs a query and returns the keys it yields, in order, and TotalItems.
func collect(t *testing.T, s spi.Store, expr string, opts ...spi.QueryOption) ([]string, int) {
	t.Helper()
	it, err := s.Query(expr, opts...)
	if err != nil {
		t.Fatalf("Query(%q) = %v", expr, err)
	}
	defer it.Close()
	var keys []string
	for {
		ok, err := it.Next()
		if err != nil {
			t.Fatalf("Next = %v", err)
		}
		if !ok {
			break
		}
		k, err := it.Key()
		if err != nil {
			t.Fatalf("Key = %v", err)
		}
		v, err := it.Value()
		if err != nil || string(v) != "value-"+k {
			t.Fatalf("Value of %q = %q, %v", k, v, err)
		}
		keys = append(keys, k)
	}
	total, err := it.TotalItems()
	if err != nil {
		t.Fatalf("TotalItems = %v", err)
	}
	return keys, total
}

func TestAgentQuery(t *testing.T) {
	records := map[string][]spi.Tag{
		"a": {{Name: "kind", Value: "conn"}, {Name: "state", Value: "completed"}, {Name: "n", Value: "10"}},
		"b": {{Name: "kind", Value: "conn"}, {Name: "state", Value: "invited"}, {Name: "n", Value: "9"}},
		"c": {{Name: "kind", Value: "did"}, {Name: "n", Value: "-1.5"}},
		"d": {{Name: "kind", Value: "did"}, {Name: "n", Value: "beta"}},
		"e": {{Name: "kind", Value: "did"}, {Name: "n", Value: "alpha"}},
		"f": {{Name: "kind", Value: "other"}},
		"g": {{Name: "state", Value: "completed"}},
	}
	s := openAgentStore(t, redistest.Server(t).URL(), records)
	asc := func(tag string) spi.QueryOption { return spi.WithSortOrder(&spi.SortOptions{TagName: tag}) }
	desc := func(tag string) spi.QueryOption {
		return spi.WithSortOrder(&spi.SortOptions{TagName: tag, Order: spi.SortDescending})
	}
	for _, tc := range []struct {
		name string
		expr string
		opts []spi.QueryOption
		want []string
	}{
		{"tag name only, key order", "kind", nil, []string{"a", "b", "c", "d", "e", "f"}},
		{"tag name with empty value is tag name only", "state:", nil, []string{"a", "b", "g"}},
		{"name and value", "kind:did", nil, []string{"c", "d", "e"}},
		{"unknown tag", "colour", nil, nil},
		{"and", "kind:conn&&state:completed", nil, []string{"a"}},
		{"or", "kind:other||state:invited", nil, []string{"b", "f"}},
		{"and binds tighter than or", "kind:conn&&state:invited||state:completed", nil, []string{"a", "b", "g"}},
		{"a value is not a name", "conn", nil, nil},
		{"numbers numerically, then other values, then records without the tag", "kind", []spi.QueryOption{asc("n")},
			[]string{"c", "b", "a", "e", "d", "f"}},
		{"descending, records without the tag still last", "kind", []spi.QueryOption{desc("n")},
			[]string{"d", "e", "a", "b", "c", "f"}},
		{"sorted, second page of two", "kind", []spi.QueryOption{asc("n"), spi.WithPageSize(2), spi.WithInitialPageNum(1)},
			[]string{"a", "e", "d", "f"}},
		{"page beyond the end", "kind", []spi.QueryOption{spi.WithPageSize(4), spi.WithInitialPageNum(2)}, nil},
		{"huge page number", "kind", []spi.QueryOption{spi.WithPageSize(1 << 40), spi.WithInitialPageNum(1 << 40)}, nil},
		{"nil option is ignored", "kind:conn", []spi.QueryOption{nil}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := collect(t, s, tc.expr, tc.opts...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Query(%q) = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}
	t.Run("TotalItems ignores paging", func(t *testing.T) {
		if _, total := collect(t, s, "kind", spi.WithPageSize(2), spi.WithInitialPageNum(2)); total != 6 {
			t.Errorf("TotalItems = %d, want 6", total)
		}
	})
	for _, tc := range []struct {
		name string
		expr string
		opts []spi.QueryOption
	}{
		{"empty expression", "", nil},
		{"three parts", "a:b:c", nil},
		{"empty tag name", ":value", nil},
		{"empty criterion", "kind&&", nil},
		{"negative page size", "kind", []spi.QueryOption{spi.WithPageSize(-1)}},
		{"negative initial page", "kind", []spi.QueryOption{spi.WithInitialPageNum(-1)}},
		{"blank sort tag", "kind", []spi.QueryOption{spi.WithSortOrder(&spi.SortOptions{})}},
		{"unknown sort order", "kind", []spi.QueryOption{spi.WithSortOrder(&spi.SortOptions{TagName: "n", Order: 7})}},
	} {
		t.Run("error/"+tc.name, func(t *testing.T) {
			if it, err := s.Query(tc.expr, tc.opts...); err == nil {
				it.Close()
				t.Errorf("Query(%q) = nil error", tc.expr)
			}
		})
	}
}

func TestAgentIterator(t *testing.T) {
	records := map[string][]spi.Tag{}
	for i := range 10 {
		records[fmt.Sprintf("k%d", i)] = []spi.Tag{{Name: "t", Value: "x"}}
	}
	s := openAgentStore(t, redistest.Server(t).URL(), records)
	it, err := s.Query("t:x", spi.WithPageSize(3))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if ok, err := it.Next(); !ok || err != nil {
		t.Fatalf("Next = %v, %v", ok, err)
	}
	// k0..k2 are in the first page; k4 (second page) goes, k7 (third page) changes its tag.
	if err := s.Delete("k4"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("k7", []byte("value-k7"), spi.Tag{Name: "t", Value: "y"}); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for ok := true; ok; ok, err = it.Next() {
		k, _ := it.Key()
		keys = append(keys, k)
	}
	if err != nil {
		t.Fatalf("Next = %v", err)
	}
	if want := []string{"k0", "k1", "k2", "k3", "k5", "k6", "k8", "k9"}; !slices.Equal(keys, want) {
		t.Errorf("keys = %v, want %v", keys, want)
	}
	if n, _ := it.TotalItems(); n != 10 {
		t.Errorf("TotalItems = %d, want 10 (the count when the query ran)", n)
	}
	if err := it.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if _, err := it.Next(); err == nil {
		t.Error("Next after Close = nil error")
	}
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
		if got, _ := collect(t, s, "t"); !slices.Equal(got, []string{"old"}) {
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
		if got, _ := collect(t, s, "t"); !slices.Equal(got, []string{"j", "k"}) {
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
