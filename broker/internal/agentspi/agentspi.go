// Package agentspi holds what the broker's two implementations of aries-framework-go's storage
// SPI (bbolt in boltstore, Redis in redisstore) share: the SPI's rules for keys and tags and
// the checks of every call's arguments (calls.go), the query expressions they accept, how
// query results are sorted and paged, the Iterator over them, Get and GetTags over a store's
// reader, and the list of open stores. Each store finds the matching keys and reads and writes
// records its own way.
package agentspi

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"sync"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
)

// DefaultPageSize is the Query page size when the caller sets none.
const DefaultPageSize = 25

var (
	ErrEmptyKey       = errors.New("key cannot be empty")
	ErrEmptyStoreName = errors.New("store name cannot be empty")
	ErrNoCurrent      = errors.New("iterator has no current entry: call Next first, and only while it returns true")
)

// CheckTagName enforces the SPI's rules for a tag name: not empty, no ':'.
func CheckTagName(name string) error {
	if name == "" {
		return errors.New("tag name cannot be empty")
	}
	if strings.Contains(name, ":") {
		return fmt.Errorf("tag name %q contains ':'", name)
	}
	return nil
}

// CheckTags enforces the SPI's rules: no ':' in names or values, one tag per name.
func CheckTags(tags []spi.Tag) error {
	for i, tag := range tags {
		if err := CheckTagName(tag.Name); err != nil {
			return err
		}
		if strings.Contains(tag.Value, ":") {
			return fmt.Errorf("value %q of tag %q contains ':'", tag.Value, tag.Name)
		}
		for _, earlier := range tags[:i] {
			if earlier.Name == tag.Name {
				return fmt.Errorf("tag name %q given twice", tag.Name)
			}
		}
	}
	return nil
}

// Criterion is one TagName or TagName:TagValue of a query expression.
type Criterion struct {
	Name, Value string
	AnyValue    bool // no value given: every value of the tag matches
}

// Query is an expression in disjunctive form: it matches a record that matches every criterion
// of at least one group.
type Query [][]Criterion

// Parse parses "TagName", "TagName:TagValue", and such criteria joined with && and ||, where
// && binds tighter (the SPI's advanced expression format). "TagName:" matches any value.
func Parse(expr string) (Query, error) {
	if expr == "" {
		return nil, errors.New("empty query expression")
	}
	var q Query
	for _, alt := range strings.Split(expr, "||") {
		var group []Criterion
		for _, part := range strings.Split(alt, "&&") {
			name, value, _ := strings.Cut(part, ":")
			if strings.Contains(value, ":") {
				return nil, fmt.Errorf("query criterion %q: want TagName or TagName:TagValue", part)
			}
			if name == "" {
				return nil, fmt.Errorf("query criterion %q: empty tag name", part)
			}
			group = append(group, Criterion{Name: name, Value: value, AnyValue: value == ""})
		}
		q = append(q, group)
	}
	return q, nil
}

// Matches reports whether a record with these tags matches the query.
func (q Query) Matches(tags []spi.Tag) bool {
	return slices.ContainsFunc(q, func(group []Criterion) bool {
		for _, c := range group {
			if !slices.ContainsFunc(tags, func(t spi.Tag) bool {
				return t.Name == c.Name && (c.AnyValue || t.Value == c.Value)
			}) {
				return false
			}
		}
		return true
	})
}

// Options reads a Query call's options and checks them: a page size (DefaultPageSize when
// unset) and initial page that are not negative, a sort tag name the SPI allows and a known
// sort order.
func Options(options []spi.QueryOption) (spi.QueryOptions, error) {
	var opts spi.QueryOptions
	for _, o := range options {
		if o != nil {
			o(&opts)
		}
	}
	switch {
	case opts.PageSize < 0:
		return opts, fmt.Errorf("negative page size %d", opts.PageSize)
	case opts.PageSize == 0:
		opts.PageSize = DefaultPageSize
	}
	if opts.InitialPageNum < 0 {
		return opts, fmt.Errorf("negative initial page %d", opts.InitialPageNum)
	}
	if s := opts.SortOptions; s != nil {
		if err := CheckTagName(s.TagName); err != nil {
			return opts, fmt.Errorf("sort option: %w", err)
		}
		if s.Order != spi.SortAscending && s.Order != spi.SortDescending {
			return opts, fmt.Errorf("unknown sort order %d", s.Order)
		}
	}
	return opts, nil
}

// Hit is a matching key and, when sorting, the value it sorts by.
type Hit struct {
	Key   string
	has   bool     // the record has the sort tag
	value string   // the sort tag's value
	num   *big.Rat // the value as a number, if it is a decimal number
}

// SetSortValue records the value of the record's sort tag.
func (h *Hit) SetSortValue(v string) {
	h.has, h.value = true, v
	if isDecimal(v) {
		h.num, _ = new(big.Rat).SetString(v)
	}
}

// SetSortTag records the value of the tag named name among tags, if the record has it.
func (h *Hit) SetSortTag(tags []spi.Tag, name string) {
	if i := slices.IndexFunc(tags, func(t spi.Tag) bool { return t.Name == name }); i >= 0 {
		h.SetSortValue(tags[i].Value)
	}
}

func (h Hit) compare(o Hit, desc bool) int {
	if h.has != o.has {
		if h.has {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case !h.has:
	case h.num != nil && o.num != nil:
		c = h.num.Cmp(o.num)
	case h.num != nil:
		c = -1
	case o.num != nil:
		c = 1
	default:
		c = strings.Compare(h.value, o.value)
	}
	if desc {
		c = -c
	}
	return cmp.Or(c, strings.Compare(h.Key, o.Key))
}

// isDecimal reports whether s is a decimal number: an optional sign, digits, and an optional
// fraction ("-12", "3.25", "+.5"). Exponents, "Inf" and "NaN" are not numbers here.
func isDecimal(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

// Order sorts the hits as opts say — without a sort option in key order; with one by the value
// of the sort tag, numerically when both values are decimal numbers (numbers before other
// values), byte-wise otherwise, ties by key, records without the sort tag last in either
// order — and returns their keys from the initial page on.
func Order(hits []Hit, opts spi.QueryOptions) []string {
	if s := opts.SortOptions; s != nil {
		desc := s.Order == spi.SortDescending
		slices.SortFunc(hits, func(a, b Hit) int { return a.compare(b, desc) })
	} else {
		slices.SortFunc(hits, func(a, b Hit) int { return strings.Compare(a.Key, b.Key) })
	}
	skip := len(hits)
	if opts.InitialPageNum <= len(hits)/opts.PageSize {
		skip = opts.InitialPageNum * opts.PageSize // cannot overflow: at most len(hits)
	}
	keys := make([]string, 0, len(hits)-skip)
	for _, h := range hits[skip:] {
		keys = append(keys, h.Key)
	}
	return keys
}

// Entry is a record read for an Iterator.
type Entry struct {
	Key   string
	Value []byte
	Tags  []spi.Tag
}

// Iterator walks the keys a query matched, reading their records a page at a time and
// skipping those deleted or re-tagged out of the result since the query. It belongs to one
// goroutine.
type Iterator struct {
	query    Query
	keys     []string // not read yet
	pageSize int
	total    int
	read     func(keys []string) ([]Entry, error)
	errf     func(format string, args ...any) error
	page     []Entry
	cur      int // index of the current entry in page, -1 before the first
	closed   bool
}

var _ spi.Iterator = (*Iterator)(nil)

// NewIterator returns an iterator over keys (from Order), total of which matched q when the
// query ran. read returns the records of the keys it is given that still exist; errf makes the
// store's errors.
func NewIterator(q Query, keys []string, total, pageSize int, read func(keys []string) ([]Entry, error),
	errf func(format string, args ...any) error) *Iterator {
	return &Iterator{query: q, keys: keys, total: total, pageSize: pageSize, read: read, errf: errf, cur: -1}
}

// Next moves to the next entry, reading the next page when the current one is used up.
func (it *Iterator) Next() (bool, error) {
	if it.closed {
		return false, it.errf("iterator: closed")
	}
	for {
		if it.cur+1 < len(it.page) {
			it.cur++
			return true, nil
		}
		it.page, it.cur = nil, -1
		if len(it.keys) == 0 {
			return false, nil
		}
		n := min(it.pageSize, len(it.keys))
		batch := it.keys[:n]
		it.keys = it.keys[n:]
		entries, err := it.read(batch)
		if err != nil {
			return false, err
		}
		it.page = slices.DeleteFunc(entries, func(e Entry) bool { return !it.query.Matches(e.Tags) })
	}
}

func (it *Iterator) current() (*Entry, error) {
	if it.cur < 0 || it.cur >= len(it.page) {
		return nil, it.errf("iterator: %w", ErrNoCurrent)
	}
	return &it.page[it.cur], nil
}

// Key returns the current entry's key.
func (it *Iterator) Key() (string, error) {
	e, err := it.current()
	if err != nil {
		return "", err
	}
	return e.Key, nil
}

// Value returns the current entry's value; the slice belongs to the caller.
func (it *Iterator) Value() ([]byte, error) {
	e, err := it.current()
	if err != nil {
		return nil, err
	}
	return e.Value, nil
}

// Tags returns the current entry's tags.
func (it *Iterator) Tags() ([]spi.Tag, error) {
	e, err := it.current()
	if err != nil {
		return nil, err
	}
	return e.Tags, nil
}

// TotalItems returns how many records matched when Query ran, whatever the page options.
func (it *Iterator) TotalItems() (int, error) { return it.total, nil }

// Close releases the iterator's buffers. It is idempotent.
func (it *Iterator) Close() error {
	it.closed = true
	it.keys, it.page, it.cur = nil, nil, -1
	return nil
}

// OpenStores is a provider's list of open stores by (lower-cased) name. A provider embeds it
// for its GetOpenStores and Close, which only take stores off the list. It is safe for
// concurrent use; the zero value is empty.
type OpenStores[S interface {
	comparable
	spi.Store
}] struct {
	mu sync.Mutex
	m  map[string]S
}

// Get returns the open store called name, making it with open when there is none or keep says
// the one there will not do (keep nil: any will do).
func (o *OpenStores[S]) Get(name string, keep func(S) bool, open func() S) S {
	o.mu.Lock()
	defer o.mu.Unlock()
	s, ok := o.m[name]
	if !ok || (keep != nil && !keep(s)) {
		s = open()
		if o.m == nil {
			o.m = map[string]S{}
		}
		o.m[name] = s
	}
	return s
}

// Remove takes s off the list, if it is the open store called name.
func (o *OpenStores[S]) Remove(name string, s S) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m[name] == s {
		delete(o.m, name)
	}
}

// GetOpenStores returns the open stores, ordered by name.
func (o *OpenStores[S]) GetOpenStores() []spi.Store {
	o.mu.Lock()
	defer o.mu.Unlock()
	names := slices.Sorted(maps.Keys(o.m))
	stores := make([]spi.Store, len(names))
	for i, name := range names {
		stores[i] = o.m[name]
	}
	return stores
}

// Close empties the list. The provider, and the stores on it, stay usable.
func (o *OpenStores[S]) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	clear(o.m)
	return nil
}
