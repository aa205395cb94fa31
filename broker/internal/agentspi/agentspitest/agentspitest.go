// Package agentspitest is what both of the broker's aries-framework-go storage SPIs must do
// beyond aries-framework-go's own conformance suite: the advanced query expressions, numeric
// and missing-tag sorting, and an Iterator that skips records changed after the query.
package agentspitest

import (
	"fmt"
	"slices"
	"testing"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
)

// Opener opens an empty store of the SPI under test and puts records in it, each key with the
// value "value-" and the key, and its tags.
type Opener func(t *testing.T, records map[string][]spi.Tag) spi.Store

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	t.Run("Query", func(t *testing.T) { testQuery(t, open) })
	t.Run("Iterator", func(t *testing.T) { testIterator(t, open) })
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
