package boltstore_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/agentspi/agentspitest"
	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	afgstoragetest "github.com/hyperledger/aries-framework-go/test/component/storage"
)

// TestAgentStorageConformance runs aries-framework-go's own storage suite, with no skips: sorting,
// initial pages and TotalItems included.
func TestAgentStorageConformance(t *testing.T) {
	db := openDB(t)
	p := db.AgentStorage()
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
		if err := db.Ping(t.Context()); err != nil {
			t.Errorf("Provider.Close closed the DB: Ping = %v", err)
		}
	})
}

// openAgentStore opens a store with the given records in a fresh DB.
func openAgentStore(t *testing.T, records map[string][]spi.Tag) spi.Store {
	t.Helper()
	s, err := openDB(t).AgentStorage().OpenStore("test")
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

func TestAgentQuery(t *testing.T) { agentspitest.Run(t, openAgentStore) }

func TestAgentStore(t *testing.T) {
	t.Run("batch with IsNewKey on an existing key changes nothing", func(t *testing.T) {
		s := openAgentStore(t, map[string][]spi.Tag{"old": {{Name: "t"}}})
		err := s.Batch([]spi.Operation{
			{Key: "new", Value: []byte("value-new"), Tags: []spi.Tag{{Name: "t"}}},
			{Key: "old", Value: nil},
			{Key: "new", Value: []byte("again"), PutOptions: &spi.PutOptions{IsNewKey: true}},
		})
		if !errors.Is(err, spi.ErrDuplicateKey) {
			t.Fatalf("Batch = %v, want ErrDuplicateKey", err)
		}
		if _, err := s.Get("new"); !errors.Is(err, spi.ErrDataNotFound) {
			t.Errorf("Get(new) after the failed batch = %v, want ErrDataNotFound", err)
		}
		if got, _ := agentspitest.Collect(t, s, "t"); !slices.Equal(got, []string{"old"}) {
			t.Errorf("query after the failed batch = %v, want [old]", got)
		}
	})
	t.Run("tag rules", func(t *testing.T) {
		s := openAgentStore(t, nil)
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
	t.Run("any bytes in keys, tag names and values", func(t *testing.T) {
		s := openAgentStore(t, nil)
		key := "k\x00\xff é"
		tags := []spi.Tag{{Name: "n\x00", Value: "\x01v é"}, {Name: "n", Value: ""}}
		if err := s.Put(key, []byte{}, tags...); err != nil {
			t.Fatalf("Put = %v", err)
		}
		if v, err := s.Get(key); err != nil || v == nil || len(v) != 0 {
			t.Errorf("Get of an empty value = %q (nil %v), %v; want an empty, non-nil value", v, v == nil, err)
		}
		for _, expr := range []string{"n\x00", "n\x00:\x01v é", "n"} {
			it, err := s.Query(expr)
			if err != nil {
				t.Fatalf("Query(%q) = %v", expr, err)
			}
			ok, _ := it.Next()
			k, _ := it.Key()
			if !ok || k != key {
				t.Errorf("Query(%q) found %q, %v; want the record", expr, k, ok)
			}
			it.Close()
		}
	})
	t.Run("values are copies", func(t *testing.T) {
		s := openAgentStore(t, nil)
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
		db := openDB(t)
		s, err := db.AgentStorage().OpenStore("sessions")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Put("s1", []byte(`{"id":"s1","status":"created"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Session(t.Context(), "s1"); !errors.Is(err, broker.ErrNotFound) {
			t.Errorf("broker Session(s1) = %v, want ErrNotFound", err)
		}
		if err := db.CreateSession(t.Context(), &broker.Session{ID: "s2", Status: broker.StatusCreated}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get("s2"); !errors.Is(err, spi.ErrDataNotFound) {
			t.Errorf("agent Get(s2) = %v, want ErrDataNotFound", err)
		}
	})
	t.Run("store config needs an existing store and valid tag names", func(t *testing.T) {
		p := openDB(t).AgentStorage()
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
