// Package agentspitest is the conformance suite for the broker's implementations of
// aries-framework-go's storage SPI (the agent storage of boltstore and redisstore): every
// implementation runs Run from its own tests against a real backend. Run runs
// aries-framework-go's own storage suite with no skips, then what the SPI must do beyond it
// here: the advanced query expressions, numeric and missing-tag sorting, an Iterator that skips
// records changed after the query, the tag rules, batches, any bytes, copies, store
// configurations, and agent data kept apart from the broker's.
//
// agentspitest imports broker, the SPI and its conformance suite, and the standard library; it
// must not depend on any store implementation.
package agentspitest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	afgstoragetest "github.com/hyperledger/aries-framework-go/test/component/storage"

	"github.com/hearro/trustbroker/broker"
)

// Backend opens a fresh, empty broker store of the implementation under test and returns it
// with its agent storage (the store's AgentStorage()); it registers any clean-up with
// t.Cleanup.
type Backend func(t *testing.T) (broker.Store, spi.Provider)

// Opener opens an empty store of the SPI under test and puts records in it, each key with the
// value "value-" and the key, and its tags.
type Opener func(t *testing.T, records map[string][]spi.Tag) spi.Store

// Run runs the suite. Every subtest calls open for a fresh, empty backend.
func Run(t *testing.T, open Backend) {
	t.Run("aries-framework-go conformance", func(t *testing.T) { testConformance(t, open) })
	t.Run("Query", func(t *testing.T) { testQuery(t, withRecords(open)) })
	t.Run("Iterator", func(t *testing.T) { testIterator(t, withRecords(open)) })
	t.Run("Store", func(t *testing.T) { testStore(t, open) })
}

// withRecords is the Opener of a backend: a store named "test" in a fresh backend.
func withRecords(open Backend) Opener {
	return func(t *testing.T, records map[string][]spi.Tag) spi.Store {
		t.Helper()
		_, p := open(t)
		s, err := p.OpenStore("test")
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
}

// testConformance runs aries-framework-go's own storage suite with no skips — sorting, initial
// pages and TotalItems included — and then checks that the provider it closed still works,
// and that closing it did not close the broker's store.
func testConformance(t *testing.T, open Backend) {
	st, p := open(t)
	afgstoragetest.TestAll(t, p)

	t.Run("provider works after Close", func(t *testing.T) {
		s, err := p.OpenStore("after-close")
		if err != nil {
			t.Fatalf("OpenStore after Close = %v", err)
		}
		if err := s.Put("k", []byte("v")); err != nil {
			t.Fatalf("Put = %v", err)
		}
		if v, err := s.Get("k"); err != nil || string(v) != "v" {
			t.Errorf("Get = %q, %v", v, err)
		}
		if n := len(p.GetOpenStores()); n != 1 {
			t.Errorf("GetOpenStores has %d stores, want 1", n)
		}
		if err := st.Ping(t.Context()); err != nil {
			t.Errorf("Provider.Close closed the store: Ping = %v", err)
		}
	})
}

func testStore(t *testing.T, open Backend) {
	openStore := withRecords(open)
	t.Run("batch of many keys with IsNewKey on an existing key changes nothing", func(t *testing.T) {
		s := openStore(t, map[string][]spi.Tag{"old": {{Name: "t"}}})
		ops := []spi.Operation{{Key: "old", Value: nil}}
		for i := range 40 { // 40 keys land in most of redisstore's 16 shards
			ops = append(ops, spi.Operation{Key: fmt.Sprintf("new%d", i), Value: []byte("v"), Tags: []spi.Tag{{Name: "t"}}})
		}
		ops = append(ops, spi.Operation{Key: "old2", Value: []byte("again"), PutOptions: &spi.PutOptions{IsNewKey: true}})
		if err := s.Put("old2", []byte("value-old2")); err != nil {
			t.Fatal(err)
		}
		DuplicateChangesNothing(t, s, ops, "new0")
	})
	t.Run("batch: IsNewKey after a delete of the same key is allowed", func(t *testing.T) {
		s := openStore(t, map[string][]spi.Tag{"k": nil, "j": nil})
		err := s.Batch([]spi.Operation{
			{Key: "k", Value: nil},
			{Key: "k", Value: []byte("value-k"), PutOptions: &spi.PutOptions{IsNewKey: true}, Tags: []spi.Tag{{Name: "t"}}},
			{Key: "j", Value: []byte("value-j"), Tags: []spi.Tag{{Name: "t"}}},
			{Key: "x", Value: []byte("value-x"), PutOptions: &spi.PutOptions{IsNewKey: true}},
		})
		if err != nil {
			t.Fatalf("Batch = %v", err)
		}
		if got, _ := Collect(t, s, "t"); !slices.Equal(got, []string{"j", "k"}) {
			t.Errorf("query = %v, want [j k]", got)
		}
	})
	t.Run("tag rules", func(t *testing.T) {
		s := openStore(t, nil)
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
	t.Run("any bytes in store names and keys, any text in tag names and values", func(t *testing.T) {
		for _, tc := range []struct {
			key   string
			tags  []spi.Tag
			exprs []string
		}{
			{"k\x00\xff é", []spi.Tag{{Name: "n\x00", Value: "\x01v é"}, {Name: "n", Value: ""}},
				[]string{"n\x00", "n\x00:\x01v é", "n"}},
			{"k\x00\xff é{}", []spi.Tag{{Name: "n\x00", Value: "\x01v é}"}, {Name: "n", Value: ""}, {Name: "12", Value: "3"}},
				[]string{"n\x00", "n\x00:\x01v é}", "n", "12:3"}},
		} {
			_, p := open(t)
			AnyBytes(t, p, tc.key, tc.tags, tc.exprs...)
		}
	})
	t.Run("values are copies", func(t *testing.T) {
		s := openStore(t, nil)
		in := []byte("value")
		if err := s.Put("k", in); err != nil {
			t.Fatal(err)
		}
		in[0] = 'X'
		out, _ := s.Get("k")
		out[1] = 'Y'
		if again, _ := s.Get("k"); string(again) != "value" {
			t.Errorf("Get = %q, want value", again)
		}
	})
	t.Run("agent data is apart from the broker's", func(t *testing.T) {
		st, p := open(t)
		s, err := p.OpenStore("sessions")
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
	t.Run("store config needs an existing store and valid tag names", func(t *testing.T) {
		_, p := open(t)
		if err := p.SetStoreConfig("", spi.StoreConfiguration{}); err == nil {
			t.Error("SetStoreConfig(\"\") = nil error")
		}
		if _, err := p.GetStoreConfig(""); err == nil {
			t.Error("GetStoreConfig(\"\") = nil error")
		}
		if err := p.SetStoreConfig("missing", spi.StoreConfiguration{}); !errors.Is(err, spi.ErrStoreNotFound) {
			t.Errorf("SetStoreConfig(missing) = %v, want ErrStoreNotFound", err)
		}
		if _, err := p.OpenStore("x"); err != nil {
			t.Fatal(err)
		}
		if err := p.SetStoreConfig("X", spi.StoreConfiguration{TagNames: []string{""}}); err == nil {
			t.Error("SetStoreConfig with an empty tag name = nil error")
		}
		if c, err := p.GetStoreConfig("x"); err != nil || len(c.TagNames) != 0 {
			t.Errorf("GetStoreConfig of a store never configured = %+v, %v; want empty", c, err)
		}
	})
}

// DuplicateChangesNothing runs ops on s, a store that holds the record "old" tagged t, and
// checks that the batch fails with spi.ErrDuplicateKey and changes nothing: put, a key the
// batch puts, is not there, and a query of t finds old alone.
func DuplicateChangesNothing(t *testing.T, s spi.Store, ops []spi.Operation, put string) {
	t.Helper()
	if err := s.Batch(ops); !errors.Is(err, spi.ErrDuplicateKey) {
		t.Fatalf("Batch = %v, want ErrDuplicateKey", err)
	}
	if _, err := s.Get(put); !errors.Is(err, spi.ErrDataNotFound) {
		t.Errorf("Get(%s) after the failed batch = %v, want ErrDataNotFound", put, err)
	}
	if got, _ := Collect(t, s, "t"); !slices.Equal(got, []string{"old"}) {
		t.Errorf("query after the failed batch = %v, want [old]", got)
	}
}

// AnyBytes checks that p keeps any bytes in store names and keys, and the tags as given:
// in a store of each of a few names with braces, '%', '/' and non-ASCII letters, it puts an
// empty value under key with tags and reads it back: Get returns an empty value, not nil,
// GetTags the tags, and a Query of each of exprs finds the record. The suite checks any text;
// a store that keeps more (bytes that are not UTF-8) checks that through it too.
func AnyBytes(t *testing.T, p spi.Provider, key string, tags []spi.Tag, exprs ...string) {
	t.Helper()
	for _, name := range []string{"test", "a}b", "{x}", "50%/2", "ünï"} {
		s, err := p.OpenStore(name)
		if err != nil {
			t.Fatalf("OpenStore(%q) = %v", name, err)
		}
		if err := s.Put(key, []byte{}, tags...); err != nil {
			t.Fatalf("Put = %v", err)
		}
		if v, err := s.Get(key); err != nil || v == nil || len(v) != 0 {
			t.Errorf("Get of an empty value = %q (nil %v), %v; want an empty, non-nil value", v, v == nil, err)
		}
		if got, err := s.GetTags(key); err != nil || len(got) != len(tags) || got[0] != tags[0] {
			t.Errorf("GetTags = %q, %v", got, err)
		}
		for _, expr := range exprs {
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
}

// Collect runs a query and returns the keys it yields, in order, and TotalItems; it checks
// each value is "value-" and the key, as the records Opener stores are.
func Collect(t *testing.T, s spi.Store, expr string, opts ...spi.QueryOption) ([]string, int) {
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

func testQuery(t *testing.T, openStore Opener) {
	records := map[string][]spi.Tag{
		"a": {{Name: "kind", Value: "conn"}, {Name: "state", Value: "completed"}, {Name: "n", Value: "10"}},
		"b": {{Name: "kind", Value: "conn"}, {Name: "state", Value: "invited"}, {Name: "n", Value: "9"}},
		"c": {{Name: "kind", Value: "did"}, {Name: "n", Value: "-1.5"}},
		"d": {{Name: "kind", Value: "did"}, {Name: "n", Value: "beta"}},
		"e": {{Name: "kind", Value: "did"}, {Name: "n", Value: "alpha"}},
		"f": {{Name: "kind", Value: "other"}},
		"g": {{Name: "state", Value: "completed"}},
	}
	s := openStore(t, records)
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
			got, _ := Collect(t, s, tc.expr, tc.opts...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("Query(%q) = %v, want %v", tc.expr, got, tc.want)
			}
		})
	}

	t.Run("TotalItems ignores paging", func(t *testing.T) {
		_, total := Collect(t, s, "kind", spi.WithPageSize(2), spi.WithInitialPageNum(2))
		if total != 6 {
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

func testIterator(t *testing.T, openStore Opener) {
	records := map[string][]spi.Tag{}
	for i := range 10 {
		records[fmt.Sprintf("k%d", i)] = []spi.Tag{{Name: "t", Value: "x"}}
	}
	s := openStore(t, records)

	t.Run("entries deleted or re-tagged after the query are skipped", func(t *testing.T) {
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
		want := []string{"k0", "k1", "k2", "k3", "k5", "k6", "k8", "k9"}
		if !slices.Equal(keys, want) {
			t.Errorf("keys = %v, want %v", keys, want)
		}
		if n, _ := it.TotalItems(); n != 10 {
			t.Errorf("TotalItems = %d, want 10 (the count when the query ran)", n)
		}
	})
	t.Run("no current entry before Next, after the end and after Close", func(t *testing.T) {
		it, err := s.Query("t")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := it.Key(); err == nil {
			t.Error("Key before Next = nil error")
		}
		for ok := true; ok; ok, err = it.Next() {
		}
		if _, err := it.Value(); err == nil {
			t.Error("Value after the end = nil error")
		}
		if err := it.Close(); err != nil {
			t.Errorf("Close = %v", err)
		}
		if err := it.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
		if _, err := it.Next(); err == nil {
			t.Error("Next after Close = nil error")
		}
		if _, err := it.Tags(); err == nil {
			t.Error("Tags after Close = nil error")
		}
	})
}

// Unavailable checks that every call of p and of s, one of its stores, whose backend is gone
// (a closed file, a Redis that is down), fails with an error matching broker.ErrUnavailable.
// Each store's tests take the backend away their own way and call it.
func Unavailable(t *testing.T, p spi.Provider, s spi.Store) {
	t.Helper()
	for name, call := range map[string]func() error{
		"Put":            func() error { return s.Put("k", []byte("v")) },
		"Get":            func() error { _, err := s.Get("k"); return err },
		"GetTags":        func() error { _, err := s.GetTags("k"); return err },
		"GetBulk":        func() error { _, err := s.GetBulk("k", "j"); return err },
		"Delete":         func() error { return s.Delete("k") },
		"Batch":          func() error { return s.Batch([]spi.Operation{{Key: "a", Value: []byte("v")}, {Key: "b"}}) },
		"Query":          func() error { _, err := s.Query("t"); return err },
		"OpenStore":      func() error { _, err := p.OpenStore("other"); return err },
		"SetStoreConfig": func() error { return p.SetStoreConfig("other", spi.StoreConfiguration{}) },
		"GetStoreConfig": func() error { _, err := p.GetStoreConfig("other"); return err },
	} {
		if err := call(); !errors.Is(err, broker.ErrUnavailable) {
			t.Errorf("agent %s with the backend gone = %v, want an error matching broker.ErrUnavailable", name, err)
		}
	}
}

// BeforeRestart opens a store of p, configures it and puts a tagged record in it, and returns
// the check to run on the provider after a restart (the file reopened, the Redis back): the
// configuration, the record's value and tags are there, queries find it, and batches work.
func BeforeRestart(t *testing.T, p spi.Provider) (after func(t *testing.T, p spi.Provider)) {
	t.Helper()
	s, err := p.OpenStore("Connections")
	if err != nil {
		t.Fatalf("OpenStore = %v", err)
	}
	if err := p.SetStoreConfig("connections", spi.StoreConfiguration{TagNames: []string{"conn_"}}); err != nil {
		t.Fatalf("SetStoreConfig = %v", err)
	}
	tags := []spi.Tag{{Name: "conn_"}, {Name: "theirDID", Value: "z6Mk"}, {Name: "state", Value: "completed"}}
	if err := s.Put("conn_1", []byte("value-conn_1"), tags...); err != nil {
		t.Fatalf("Put = %v", err)
	}

	return func(t *testing.T, p spi.Provider) {
		t.Helper()
		config, err := p.GetStoreConfig("CONNECTIONS")
		if err != nil || !slices.Equal(config.TagNames, []string{"conn_"}) {
			t.Errorf("after the restart: GetStoreConfig = %+v, %v", config, err)
		}
		s, err := p.OpenStore("connections")
		if err != nil {
			t.Fatalf("after the restart: OpenStore = %v", err)
		}
		if v, err := s.Get("conn_1"); err != nil || string(v) != "value-conn_1" {
			t.Errorf("after the restart: Get = %q, %v", v, err)
		}
		if got, err := s.GetTags("conn_1"); err != nil || !slices.Equal(got, tags) {
			t.Errorf("after the restart: GetTags = %v, %v; want %v", got, err, tags)
		}
		for _, expr := range []string{"theirDID:z6Mk", "state:completed"} {
			if keys, total := Collect(t, s, expr); total != 1 || !slices.Equal(keys, []string{"conn_1"}) {
				t.Errorf("after the restart: Query(%q) = %v (%d), want [conn_1]", expr, keys, total)
			}
		}
		if err := s.Batch([]spi.Operation{{Key: "a", Value: []byte("v")}, {Key: "b", Value: []byte("w")}}); err != nil {
			t.Errorf("after the restart: Batch = %v", err)
		}
	}
}
