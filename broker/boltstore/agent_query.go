package boltstore

import (
	"bytes"
	"fmt"
	"slices"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker/internal/agentspi"
)

// matchingKeys returns the keys of the records q matches, in key order, using the tag index.
func matchingKeys(q agentspi.Query, index *bolt.Bucket) []string {
	found := map[string]struct{}{}
	for _, group := range q {
		var inGroup map[string]struct{}
		for _, c := range group {
			matches := criterionKeys(c, index)
			if inGroup != nil {
				for k := range inGroup {
					if _, ok := matches[k]; !ok {
						delete(inGroup, k)
					}
				}
			} else {
				inGroup = matches
			}
		}
		for k := range inGroup {
			found[k] = struct{}{}
		}
	}
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// criterionKeys scans the index for the records carrying the criterion's tag.
func criterionKeys(c agentspi.Criterion, index *bolt.Bucket) map[string]struct{} {
	found := map[string]struct{}{}
	prefix := tagValuePrefix(c.Name, c.Value)
	if c.AnyValue {
		prefix = tagNamePrefix(c.Name)
	}
	cur := index.Cursor()
	for k, _ := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = cur.Next() {
		if !c.AnyValue {
			found[string(k[len(prefix):])] = struct{}{}
		} else if key, ok := keyAfterNamePrefix(k, len(prefix)); ok {
			found[key] = struct{}{}
		}
	}
	return found
}

// Query returns an iterator over the records matching expression (see agentspi.Parse).
//
// The matching keys are found, and sorted, when Query is called; values and tags are then read
// one page at a time (PageSize records per read transaction, 25 by default), skipping records
// deleted or re-tagged out of the result in between. TotalItems counts the matches at query
// time. Without a sort option results come in key order. With one, they are ordered by the
// value of the sort tag: numerically when both values are decimal numbers (numbers before other
// values), byte-wise otherwise, ties by key; records without the sort tag come last in either
// order. InitialPageNum skips that many pages.
func (s *agentStore) Query(expression string, options ...spi.QueryOption) (spi.Iterator, error) {
	q, opts, err := agentspi.ParseQuery(expression, options)
	if err != nil {
		return nil, s.errf("%w", err)
	}
	var hits []agentspi.Hit
	err = s.read(func(records, index *bolt.Bucket) error {
		for _, key := range matchingKeys(q, index) {
			h := agentspi.Hit{Key: key}
			if opts.SortOptions != nil {
				raw := records.Get([]byte(key))
				if raw == nil {
					continue // index entry without record: cannot happen within one transaction
				}
				_, tags, err := decodeRecord(raw)
				if err != nil {
					return fmt.Errorf("%q: %w", key, err)
				}
				h.SetSortTag(tags, opts.SortOptions.TagName)
			}
			hits = append(hits, h)
		}
		return nil
	})
	if err != nil {
		return nil, s.errf("query %q: %w", expression, err)
	}
	return agentspi.NewIterator(q, agentspi.Order(hits, opts), len(hits), opts.PageSize, s.readEntries, s.errf), nil
}

// readEntries reads the records of keys that exist, in one read transaction.
func (s *agentStore) readEntries(keys []string) ([]agentspi.Entry, error) {
	page := make([]agentspi.Entry, 0, len(keys))
	err := s.read(func(records, _ *bolt.Bucket) error {
		for _, key := range keys {
			raw := records.Get([]byte(key))
			if raw == nil {
				continue // deleted since the query
			}
			value, tags, err := decodeRecord(raw)
			if err != nil {
				return fmt.Errorf("%q: %w", key, err)
			}
			page = append(page, agentspi.Entry{Key: key, Value: bytes.Clone(value), Tags: tags})
		}
		return nil
	})
	if err != nil {
		return nil, s.errf("iterator: %w", err)
	}
	return page, nil
}
