package redisstore

import (
	"cmp"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	"github.com/redis/go-redis/v9"
)

// defaultPageSize is the Query page size when the caller sets none.
const defaultPageSize = 25

// criterion is one TagName or TagName:TagValue of a query expression.
type criterion struct {
	name, value string
	anyValue    bool // no value given: every value of the tag matches
}

// index is the criterion's tag index, relative to a shard's key prefix.
func (c criterion) index() string {
	if c.anyValue {
		return "n:" + c.name
	}
	return "v:" + c.name + ":" + c.value
}

// query is an expression in disjunctive form: it matches a record that matches every criterion
// of at least one group.
type query [][]criterion

// parseQuery parses "TagName", "TagName:TagValue", and such criteria joined with && and ||,
// where && binds tighter (the SPI's advanced expression format). "TagName:" matches any value.
func parseQuery(expr string) (query, error) {
	if expr == "" {
		return nil, errors.New("empty query expression")
	}
	var q query
	for _, alt := range strings.Split(expr, "||") {
		var group []criterion
		for _, part := range strings.Split(alt, "&&") {
			name, value, _ := strings.Cut(part, ":")
			if strings.Contains(value, ":") {
				return nil, fmt.Errorf("query criterion %q: want TagName or TagName:TagValue", part)
			}
			if name == "" {
				return nil, fmt.Errorf("query criterion %q: empty tag name", part)
			}
			group = append(group, criterion{name: name, value: value, anyValue: value == ""})
		}
		q = append(q, group)
	}
	return q, nil
}

// matches reports whether a record with these tags matches the query.
func (q query) matches(tags []spi.Tag) bool {
	return slices.ContainsFunc(q, func(group []criterion) bool {
		for _, c := range group {
			if !slices.ContainsFunc(tags, func(t spi.Tag) bool {
				return t.Name == c.name && (c.anyValue || t.Value == c.value)
			}) {
				return false
			}
		}
		return true
	})
}

// Query returns an iterator over the records matching expression (see parseQuery).
//
// The matching keys are found, and sorted, when Query is called, by one script per shard (all
// in one pipelined round trip) that intersects and unites the tag indexes; values and tags are
// then read one page at a time (PageSize records per pipelined round trip, 25 by default),
// skipping records deleted or re-tagged out of the result in between. TotalItems counts the
// matches at query time. Without a sort option results come in key order. With one, they are
// ordered by the value of the sort tag: numerically when both values are decimal numbers
// (numbers before other values), byte-wise otherwise, ties by key; records without the sort
// tag come last in either order. InitialPageNum skips that many pages.
func (s *agentStore) Query(expression string, options ...spi.QueryOption) (spi.Iterator, error) {
	q, err := parseQuery(expression)
	if err != nil {
		return nil, s.errf("query: %w", err)
	}
	var opts spi.QueryOptions
	for _, o := range options {
		if o != nil {
			o(&opts)
		}
	}
	switch {
	case opts.PageSize < 0:
		return nil, s.errf("query %q: negative page size %d", expression, opts.PageSize)
	case opts.PageSize == 0:
		opts.PageSize = defaultPageSize
	}
	if opts.InitialPageNum < 0 {
		return nil, s.errf("query %q: negative initial page %d", expression, opts.InitialPageNum)
	}
	sortBy := opts.SortOptions
	sortTag := ""
	if sortBy != nil {
		if err := checkTagName(sortBy.TagName); err != nil {
			return nil, s.errf("query %q: sort option: %w", expression, err)
		}
		if sortBy.Order != spi.SortAscending && sortBy.Order != spi.SortDescending {
			return nil, s.errf("query %q: unknown sort order %d", expression, sortBy.Order)
		}
		sortTag = sortBy.TagName
	}

	args := []any{"", sortTag, len(q)}
	for _, group := range q {
		args = append(args, len(group))
		for _, c := range group {
			args = append(args, c.index())
		}
	}
	ctx, cancel := agentContext()
	defer cancel()
	calls := make([]scriptCall, s.shards)
	for n, base := range s.bases {
		shardArgs := slices.Clone(args)
		shardArgs[0] = base
		calls[n] = scriptCall{scriptAgentQuery, []string{base + "q"}, shardArgs}
	}
	var hits []hit
	for _, cmd := range s.p.s.runScripts(ctx, calls) {
		res, err := cmd.Slice()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.redisErr(err, "query %q", expression)
		}
		if sortBy == nil {
			for _, k := range res {
				key, _ := k.(string)
				hits = append(hits, hit{key: key})
			}
			continue
		}
		for i := 0; i+1 < len(res); i += 2 {
			h := hit{}
			h.key, _ = res[i].(string)
			if v, ok := res[i+1].(string); ok {
				h.setSortValue(v)
			}
			hits = append(hits, h)
		}
	}
	if sortBy == nil {
		slices.SortFunc(hits, func(a, b hit) int { return strings.Compare(a.key, b.key) })
	} else {
		desc := sortBy.Order == spi.SortDescending
		slices.SortFunc(hits, func(a, b hit) int { return a.compare(b, desc) })
	}

	skip := len(hits)
	if opts.InitialPageNum <= len(hits)/opts.PageSize {
		skip = opts.InitialPageNum * opts.PageSize // cannot overflow: at most len(hits)
	}
	keys := make([]string, 0, len(hits)-skip)
	for _, h := range hits[skip:] {
		keys = append(keys, h.key)
	}
	return &agentIterator{store: s, query: q, keys: keys, pageSize: opts.PageSize, total: len(hits), cur: -1}, nil
}

// hit is a matching key and, when sorting, the value it sorts by.
type hit struct {
	key   string
	has   bool     // the record has the sort tag
	value string   // the sort tag's value
	num   *big.Rat // the value as a number, if it is a decimal number
}

func (h *hit) setSortValue(v string) {
	h.has, h.value = true, v
	if isDecimal(v) {
		h.num, _ = new(big.Rat).SetString(v)
	}
}

func (h hit) compare(o hit, desc bool) int {
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
	return cmp.Or(c, strings.Compare(h.key, o.key))
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

// agentIterator walks the keys a query matched, reading records PageSize at a time.
type agentIterator struct {
	store    *agentStore
	query    query
	keys     []string // not read yet
	pageSize int
	total    int
	page     []entry
	cur      int // index of the current entry in page, -1 before the first
	closed   bool
}

type entry struct {
	key   string
	value []byte
	tags  []spi.Tag
}

var _ spi.Iterator = (*agentIterator)(nil)

// Next moves to the next entry, reading the next page when the current one is used up.
func (it *agentIterator) Next() (bool, error) {
	if it.closed {
		return false, it.store.errf("iterator: closed")
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
		if err := it.load(batch); err != nil {
			return false, err
		}
	}
}

func (it *agentIterator) load(keys []string) error {
	ctx, cancel := agentContext()
	defer cancel()
	raws, err := it.store.getRecords(ctx, keys)
	if err != nil {
		return it.store.redisErr(err, "iterator")
	}
	page := make([]entry, 0, len(keys))
	for i, raw := range raws {
		if raw == nil {
			continue // deleted since the query
		}
		value, tags, err := decodeRecord(raw)
		if err != nil {
			return it.store.errf("iterator: %q: %w", keys[i], err)
		}
		if !it.query.matches(tags) {
			continue // re-tagged since the query
		}
		page = append(page, entry{key: keys[i], value: value, tags: tags})
	}
	it.page = page
	return nil
}

func (it *agentIterator) current() (*entry, error) {
	if it.cur < 0 || it.cur >= len(it.page) {
		return nil, it.store.errf("iterator: %w", errNoCurrent)
	}
	return &it.page[it.cur], nil
}

// Key returns the current entry's key.
func (it *agentIterator) Key() (string, error) {
	e, err := it.current()
	if err != nil {
		return "", err
	}
	return e.key, nil
}

// Value returns the current entry's value; the slice belongs to the caller.
func (it *agentIterator) Value() ([]byte, error) {
	e, err := it.current()
	if err != nil {
		return nil, err
	}
	return e.value, nil
}

// Tags returns the current entry's tags.
func (it *agentIterator) Tags() ([]spi.Tag, error) {
	e, err := it.current()
	if err != nil {
		return nil, err
	}
	return e.tags, nil
}

// TotalItems returns how many records matched when Query ran, whatever the page options.
func (it *agentIterator) TotalItems() (int, error) { return it.total, nil }

// Close releases the iterator's buffers. It is idempotent.
func (it *agentIterator) Close() error {
	it.closed = true
	it.keys, it.page, it.cur = nil, nil, -1
	return nil
}
