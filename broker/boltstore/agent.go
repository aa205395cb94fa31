package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker/internal/agentspi"
)

// Inside the top-level agent bucket, each agent store is a nested bucket named by the store's
// lower-cased name, holding:
var (
	agentRecords = []byte("records") // bucket: key → record (see encodeRecord)
	agentIndex   = []byte("index")   // bucket: tagKey(name, value, key) → empty
	agentConfig  = []byte("config")  // key: spi.StoreConfiguration as JSON, once set
)

// recordFormat is the first byte of every record, so the encoding can change later.
const recordFormat = 1

// AgentStorage returns the aries-framework-go storage provider kept in this file, next to the
// broker's data but in its own bucket namespace ("afg", one nested bucket per store). Every call
// returns the same provider.
//
// It implements the whole storage SPI, including query sort options (numeric for decimal tag
// values), initial pages, Iterator.TotalItems and Batch with IsNewKey, and passes
// aries-framework-go's storage conformance suite without skips. Beyond the SPI's minimum, Query
// accepts expressions joined by && and || (ANDs bind tighter).
//
// Store handles hold no resources: Store.Close and Provider.Close only take stores off the
// GetOpenStores list, and closed handles keep working. Neither closes the file; DB.Close does,
// after which every operation fails with an error matching broker.ErrUnavailable. Store
// configurations are persisted, so they survive a restart. The provider and its stores are safe
// for concurrent use; an Iterator belongs to one goroutine.
func (db *DB) AgentStorage() spi.Provider { return db.agent }

type agentProvider struct {
	db *DB

	// The open stores by lower-cased name, and so GetOpenStores and Close: they only take
	// stores off the list.
	agentspi.OpenStores[*agentStore]
}

var _ spi.Provider = (*agentProvider)(nil)

func newAgentProvider(db *DB) *agentProvider {
	return &agentProvider{db: db}
}

// OpenStore creates the store's bucket if it does not exist yet and returns a handle to it.
func (p *agentProvider) OpenStore(name string) (spi.Store, error) {
	name, err := agentspi.StoreName("open store", name)
	if err != nil {
		return nil, fmt.Errorf("boltstore: agent: %w", err)
	}
	var exists bool
	err = p.db.view(func(tx *bolt.Tx) error {
		exists = tx.Bucket(bucketAgent).Bucket([]byte(name)) != nil
		return nil
	})
	if err == nil && !exists {
		err = p.db.update(func(tx *bolt.Tx) error {
			_, err := storeBucket(tx, name, true)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: agent: open store %q: %w", name, err)
	}
	return p.OpenStores.Get(name, nil, func() *agentStore { return &agentStore{p: p, name: name} }), nil
}

// SetStoreConfig replaces the store's configuration. The store must exist (OpenStore creates
// it, in this process or an earlier one), or the error wraps spi.ErrStoreNotFound. Tag names
// are indexed whether configured or not, so the configuration is only recorded.
func (p *agentProvider) SetStoreConfig(name string, config spi.StoreConfiguration) error {
	name, err := agentspi.CheckConfig(name, config)
	if err != nil {
		return fmt.Errorf("boltstore: agent: %w", err)
	}
	val, err := json.Marshal(config)
	if err != nil {
		return fmt.Errorf("boltstore: agent: set config of store %q: %w", name, err)
	}
	return p.db.update(func(tx *bolt.Tx) error {
		b, err := storeBucket(tx, name, false)
		if err != nil {
			return fmt.Errorf("boltstore: agent: set config of store %q: %w", name, err)
		}
		if err := b.Put(agentConfig, val); err != nil {
			return fmt.Errorf("boltstore: agent: set config of store %q: %w", name, err)
		}
		return nil
	})
}

// GetStoreConfig returns the store's configuration (empty if never set), or an error wrapping
// spi.ErrStoreNotFound if the store was never created in this file.
func (p *agentProvider) GetStoreConfig(name string) (spi.StoreConfiguration, error) {
	var config spi.StoreConfiguration
	name, err := agentspi.StoreName("get store config", name)
	if err != nil {
		return config, fmt.Errorf("boltstore: agent: %w", err)
	}
	err = p.db.view(func(tx *bolt.Tx) error {
		b, err := storeBucket(tx, name, false)
		if err != nil {
			return err
		}
		if raw := b.Get(agentConfig); raw != nil {
			return json.Unmarshal(raw, &config)
		}
		return nil
	})
	if err != nil {
		return spi.StoreConfiguration{}, fmt.Errorf("boltstore: agent: get config of store %q: %w", name, err)
	}
	return config, nil
}

// storeBucket returns the bucket of the named (lower-cased) store, creating it and its nested
// buckets if create is set; otherwise a missing store is spi.ErrStoreNotFound.
func storeBucket(tx *bolt.Tx, name string, create bool) (*bolt.Bucket, error) {
	root := tx.Bucket(bucketAgent)
	if !create {
		if b := root.Bucket([]byte(name)); b != nil {
			return b, nil
		}
		return nil, spi.ErrStoreNotFound
	}
	b, err := root.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, err
	}
	for _, sub := range [][]byte{agentRecords, agentIndex} {
		if _, err := b.CreateBucketIfNotExists(sub); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// agentStore is a handle on one store's bucket.
type agentStore struct {
	p    *agentProvider
	name string
}

var _ spi.Store = (*agentStore)(nil)

func (s *agentStore) errf(format string, args ...any) error {
	return fmt.Errorf("boltstore: agent store %q: "+format, append([]any{s.name}, args...)...)
}

// read runs fn on the store's buckets in a read-only transaction; a store whose bucket does not
// exist reads as empty (fn is not called).
func (s *agentStore) read(fn func(records, index *bolt.Bucket) error) error {
	return s.p.db.view(func(tx *bolt.Tx) error {
		b, err := storeBucket(tx, s.name, false)
		if err != nil {
			return nil
		}
		return fn(b.Bucket(agentRecords), b.Bucket(agentIndex))
	})
}

// write runs fn on the store's buckets in a read-write transaction, creating them if needed.
func (s *agentStore) write(fn func(records, index *bolt.Bucket) error) error {
	return s.p.db.update(func(tx *bolt.Tx) error {
		b, err := storeBucket(tx, s.name, true)
		if err != nil {
			return s.errf("%w", err)
		}
		return fn(b.Bucket(agentRecords), b.Bucket(agentIndex))
	})
}

// Put stores value and tags under key, replacing any earlier value and tags.
func (s *agentStore) Put(key string, value []byte, tags ...spi.Tag) error {
	if err := agentspi.CheckPut(key, value, tags); err != nil {
		return s.errf("%w", err)
	}
	return s.write(func(records, index *bolt.Bucket) error {
		if err := putRecord(records, index, key, value, tags); err != nil {
			return s.errf("put %q: %w", key, err)
		}
		return nil
	})
}

// Get returns a copy of the value under key, or an error wrapping spi.ErrDataNotFound.
func (s *agentStore) Get(key string) ([]byte, error) { return agentspi.Get(s.record, s.errf, key) }

// GetTags returns the tags stored with key, or an error wrapping spi.ErrDataNotFound.
func (s *agentStore) GetTags(key string) ([]spi.Tag, error) {
	return agentspi.GetTags(s.record, s.errf, key)
}

// record reads key's value (a copy) and tags, or fails with spi.ErrDataNotFound.
func (s *agentStore) record(key string) ([]byte, []spi.Tag, error) {
	var (
		value []byte
		tags  []spi.Tag
		found bool
	)
	err := s.read(func(records, _ *bolt.Bucket) error {
		raw := records.Get([]byte(key))
		if raw == nil {
			return nil
		}
		found = true
		v, t, err := decodeRecord(raw)
		value, tags = bytes.Clone(v), t
		return err
	})
	switch {
	case err != nil:
		return nil, nil, err
	case !found:
		return nil, nil, spi.ErrDataNotFound
	}
	return value, tags, nil
}

// GetBulk returns the values under keys, in order; a missing key gives a nil value.
func (s *agentStore) GetBulk(keys ...string) ([][]byte, error) {
	if err := agentspi.CheckKeys(keys); err != nil {
		return nil, s.errf("%w", err)
	}
	values := make([][]byte, len(keys))
	err := s.read(func(records, _ *bolt.Bucket) error {
		for i, key := range keys {
			if raw := records.Get([]byte(key)); raw != nil {
				v, _, err := decodeRecord(raw)
				if err != nil {
					return fmt.Errorf("%q: %w", key, err)
				}
				values[i] = bytes.Clone(v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.errf("get bulk: %w", err)
	}
	return values, nil
}

// Delete removes key, its value and its tags. Deleting a missing key is not an error.
func (s *agentStore) Delete(key string) error {
	if err := agentspi.CheckKey("delete", key); err != nil {
		return s.errf("%w", err)
	}
	return s.write(func(records, index *bolt.Bucket) error {
		if err := deleteRecord(records, index, key); err != nil {
			return s.errf("delete %q: %w", key, err)
		}
		return nil
	})
}

// Batch applies the operations in order in one transaction: all of them or none. An operation
// with a nil Value deletes its key. With PutOptions.IsNewKey, a key that already exists (stored,
// or put earlier in the same batch) fails the whole batch with an error wrapping
// spi.ErrDuplicateKey.
func (s *agentStore) Batch(operations []spi.Operation) error {
	if err := agentspi.CheckBatch(operations); err != nil {
		return s.errf("%w", err)
	}
	return s.write(func(records, index *bolt.Bucket) error {
		for i, op := range operations {
			var err error
			switch {
			case op.Value == nil:
				err = deleteRecord(records, index, op.Key)
			case op.PutOptions != nil && op.PutOptions.IsNewKey && records.Get([]byte(op.Key)) != nil:
				err = spi.ErrDuplicateKey
			default:
				err = putRecord(records, index, op.Key, op.Value, op.Tags)
			}
			if err != nil {
				return s.errf("batch: operation %d (%q): %w", i, op.Key, err)
			}
		}
		return nil
	})
}

// Flush does nothing: every write is committed before it returns.
func (s *agentStore) Flush() error { return nil }

// Close takes the store off the provider's open list. The handle keeps working.
func (s *agentStore) Close() error {
	s.p.OpenStores.Remove(s.name, s)
	return nil
}

// putRecord writes key's record and re-indexes its tags.
func putRecord(records, index *bolt.Bucket, key string, value []byte, tags []spi.Tag) error {
	if err := deleteRecord(records, index, key); err != nil {
		return err
	}
	rec, err := encodeRecord(value, tags)
	if err != nil {
		return err
	}
	if err := records.Put([]byte(key), rec); err != nil {
		return err
	}
	for _, tag := range tags {
		if err := index.Put(tagKey(tag.Name, tag.Value, key), []byte{}); err != nil {
			return err
		}
	}
	return nil
}

// deleteRecord removes key's record and its index entries, if there are any.
func deleteRecord(records, index *bolt.Bucket, key string) error {
	raw := records.Get([]byte(key))
	if raw == nil {
		return nil
	}
	_, tags, err := decodeRecord(raw)
	if err != nil {
		return err
	}
	for _, tag := range tags {
		if err := index.Delete(tagKey(tag.Name, tag.Value, key)); err != nil {
			return err
		}
	}
	return records.Delete([]byte(key))
}

// encodeRecord lays out a value and its tags as
//
//	recordFormat | uvarint(len(tagsJSON)) | tagsJSON | value
//
// so a record is never empty (bbolt cannot tell an empty value from a missing one cheaply)
// and value and tags are read and written together.
func encodeRecord(value []byte, tags []spi.Tag) ([]byte, error) {
	var tagsJSON []byte
	if len(tags) > 0 {
		var err error
		if tagsJSON, err = json.Marshal(tags); err != nil {
			return nil, err
		}
	}
	rec := make([]byte, 0, 1+binary.MaxVarintLen64+len(tagsJSON)+len(value))
	rec = append(rec, recordFormat)
	rec = binary.AppendUvarint(rec, uint64(len(tagsJSON)))
	rec = append(rec, tagsJSON...)
	return append(rec, value...), nil
}

// decodeRecord splits a record. The value aliases raw: clone it before the transaction ends.
func decodeRecord(raw []byte) (value []byte, tags []spi.Tag, err error) {
	if len(raw) == 0 || raw[0] != recordFormat {
		return nil, nil, errors.New("corrupt record: unknown format")
	}
	n, w := binary.Uvarint(raw[1:])
	if w <= 0 || n > uint64(len(raw)-1-w) {
		return nil, nil, errors.New("corrupt record: bad tags length")
	}
	rest := raw[1+w:]
	if n > 0 {
		if err := json.Unmarshal(rest[:n], &tags); err != nil {
			return nil, nil, fmt.Errorf("corrupt record: %w", err)
		}
	}
	return rest[n:], tags, nil
}

// tagKey is the index key of one tag of one record: uvarint(len(name)) | name |
// uvarint(len(value)) | value | key. Length prefixes keep any byte usable in names, values and
// keys; tagNamePrefix and tagValuePrefix give the prefixes the two query forms scan.
func tagKey(name, value, key string) []byte {
	k := tagValuePrefix(name, value)
	return append(k, key...)
}

func tagNamePrefix(name string) []byte {
	k := binary.AppendUvarint(nil, uint64(len(name)))
	return append(k, name...)
}

func tagValuePrefix(name, value string) []byte {
	k := tagNamePrefix(name)
	k = binary.AppendUvarint(k, uint64(len(value)))
	return append(k, value...)
}

// keyAfterNamePrefix returns the record key of an index key whose first prefixLen bytes are a
// tagNamePrefix.
func keyAfterNamePrefix(indexKey []byte, prefixLen int) (string, bool) {
	rest := indexKey[prefixLen:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return "", false
	}
	return string(rest[w+int(n):]), true
}
