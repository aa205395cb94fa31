package redisstore

import (
	"errors"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker/internal/agentspi"
)

// criterionIndex is the criterion's tag index, relative to a shard's key prefix.
func criterionIndex(c agentspi.Criterion) string {
	if c.AnyValue {
		return "n:" + c.Name
	}
	return "v:" + c.Name + ":" + c.Value
}

// Query returns an iterator over the records matching expression (see agentspi.Parse).
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
	q, opts, err := agentspi.ParseQuery(expression, options)
	if err != nil {
		return nil, s.errf("%w", err)
	}
	sortTag := ""
	if opts.SortOptions != nil {
		sortTag = opts.SortOptions.TagName
	}

	args := []any{"", sortTag, len(q)}
	for _, group := range q {
		args = append(args, len(group))
		for _, c := range group {
			args = append(args, criterionIndex(c))
		}
	}
	ctx, cancel := agentContext()
	defer cancel()
	calls := make([]scriptCall, s.shards)
	for n, base := range s.bases {
		shardArgs := append([]any(nil), args...)
		shardArgs[0] = base
		calls[n] = scriptCall{scriptAgentQuery, []string{base + "q"}, shardArgs}
	}
	var hits []agentspi.Hit
	for _, cmd := range s.p.s.runScripts(ctx, calls) {
		res, err := cmd.Slice()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, s.redisErr(err, "query %q", expression)
		}
		if sortTag == "" {
			for _, k := range res {
				key, _ := k.(string)
				hits = append(hits, agentspi.Hit{Key: key})
			}
			continue
		}
		for i := 0; i+1 < len(res); i += 2 {
			h := agentspi.Hit{}
			h.Key, _ = res[i].(string)
			if v, ok := res[i+1].(string); ok {
				h.SetSortValue(v)
			}
			hits = append(hits, h)
		}
	}
	return agentspi.NewIterator(q, agentspi.Order(hits, opts), len(hits), opts.PageSize, s.readEntries, s.errf), nil
}

// readEntries reads the records of keys that exist, in one pipelined round trip.
func (s *agentStore) readEntries(keys []string) ([]agentspi.Entry, error) {
	ctx, cancel := agentContext()
	defer cancel()
	raws, err := s.getRecords(ctx, keys)
	if err != nil {
		return nil, s.redisErr(err, "iterator")
	}
	page := make([]agentspi.Entry, 0, len(keys))
	for i, raw := range raws {
		if raw == nil {
			continue // deleted since the query
		}
		value, tags, err := decodeRecord(raw)
		if err != nil {
			return nil, s.errf("iterator: %q: %w", keys[i], err)
		}
		page = append(page, agentspi.Entry{Key: keys[i], Value: value, Tags: tags})
	}
	return page, nil
}
