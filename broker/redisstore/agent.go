package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	spi "github.com/hyperledger/aries-framework-go/spi/storage"
	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker/internal/agentspi"
)

// agentTimeout bounds each Redis call of the agent storage: the SPI has no context.
const agentTimeout = 10 * time.Second

// AgentStorage returns the aries-framework-go storage provider kept in this Redis, next to the
// broker's data under "prefix:a:" (see the package comment). Every call returns the same
// provider. Replicas sharing the Redis share the agent's data.
//
// It implements the whole storage SPI — query sort options (numeric for decimal tag values),
// initial pages, Iterator.TotalItems, Batch with IsNewKey — and passes aries-framework-go's
// storage conformance suite without skips. Beyond the SPI's minimum, Query accepts expressions
// joined by && and || (ANDs bind tighter).
//
// Each store is split into shards by a hash of the record key; each shard is one hash slot
// holding its records and their tag indexes. Put, Delete and a Batch whose keys fall in one
// shard are atomic; a Batch over several shards is atomic per shard (its IsNewKey checks all
// run before anything is written, but a concurrent writer can still slip in between shards).
// A Query reads every shard in one pipelined round trip and pages records in with one more
// per page.
//
// Store handles hold no resources: Store.Close and Provider.Close only take stores off the
// GetOpenStores list (of this process), and closed handles keep working. Neither closes the
// client; Store.Close does. Store configurations are kept in Redis. The provider and its
// stores are safe for concurrent use by many goroutines and processes; an Iterator belongs to
// one goroutine. Every call is bounded by a 10 s timeout, since the SPI carries no context.
func (s *Store) AgentStorage() spi.Provider { return s.agent }

type agentProvider struct {
	s *Store

	// The open stores by lower-cased name, and so GetOpenStores and Close: they only take
	// stores off the list.
	agentspi.OpenStores[*agentStore]
}

var _ spi.Provider = (*agentProvider)(nil)

func newAgentProvider(s *Store) *agentProvider {
	return &agentProvider{s: s}
}

func agentContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), agentTimeout)
}

func (p *agentProvider) configKey(name string) string {
	return p.s.keys.prefix + ":a:{" + escapeTag(name) + "}:cfg"
}

// OpenStore records the store in Redis if it is new (with this store's shard count) and
// returns a handle to it.
func (p *agentProvider) OpenStore(name string) (spi.Store, error) {
	name, err := agentspi.StoreName("open store", name)
	if err != nil {
		return nil, fmt.Errorf("redisstore: agent: %w", err)
	}
	ctx, cancel := agentContext()
	defer cancel()
	n, err := scriptAgentOpen.Run(ctx, p.s.client, []string{p.configKey(name)}, p.s.shards).Int()
	if err != nil {
		return nil, p.s.errf(err, "agent: open store %q", name)
	}
	if n <= 0 {
		return nil, fmt.Errorf("redisstore: agent: store %q has a bad shard count %d", name, n)
	}
	return p.OpenStores.Get(name, func(st *agentStore) bool { return st.shards == n },
		func() *agentStore { return newAgentStore(p, name, n) }), nil
}

// SetStoreConfig replaces the store's configuration. The store must exist (OpenStore creates
// it, in any process), or the error wraps spi.ErrStoreNotFound. Every tag is indexed whether
// configured or not, so the configuration is only recorded.
func (p *agentProvider) SetStoreConfig(name string, config spi.StoreConfiguration) error {
	name, err := agentspi.CheckConfig(name, config)
	if err != nil {
		return fmt.Errorf("redisstore: agent: %w", err)
	}
	tags, err := json.Marshal(config.TagNames)
	if err != nil {
		return fmt.Errorf("redisstore: agent: set config of store %q: %w", name, err)
	}
	ctx, cancel := agentContext()
	defer cancel()
	status, err := scriptAgentSetConfig.Run(ctx, p.s.client, []string{p.configKey(name)}, tags).Text()
	switch {
	case err != nil:
		return p.s.errf(err, "agent: set config of store %q", name)
	case status == statusNotFound:
		return fmt.Errorf("redisstore: agent: set config of store %q: %w", name, spi.ErrStoreNotFound)
	}
	return nil
}

// GetStoreConfig returns the store's configuration (empty if never set), or an error wrapping
// spi.ErrStoreNotFound if the store was never opened on this Redis.
func (p *agentProvider) GetStoreConfig(name string) (spi.StoreConfiguration, error) {
	var config spi.StoreConfiguration
	name, err := agentspi.StoreName("get store config", name)
	if err != nil {
		return config, fmt.Errorf("redisstore: agent: %w", err)
	}
	ctx, cancel := agentContext()
	defer cancel()
	fields, err := p.s.client.HGetAll(ctx, p.configKey(name)).Result()
	switch {
	case err != nil:
		return config, p.s.errf(err, "agent: get config of store %q", name)
	case len(fields) == 0:
		return config, fmt.Errorf("redisstore: agent: get config of store %q: %w", name, spi.ErrStoreNotFound)
	}
	if raw := fields["tags"]; raw != "" {
		if err := json.Unmarshal([]byte(raw), &config.TagNames); err != nil {
			return spi.StoreConfiguration{}, fmt.Errorf("redisstore: agent: config of store %q: %w", name, err)
		}
	}
	return config, nil
}

// agentStore is a handle on one store's shards.
type agentStore struct {
	p      *agentProvider
	name   string
	shards int
	bases  []string // key prefix of each shard: "prefix:a:{<store>/<n>}:"
}

var _ spi.Store = (*agentStore)(nil)

func newAgentStore(p *agentProvider, name string, shards int) *agentStore {
	st := &agentStore{p: p, name: name, shards: shards, bases: make([]string, shards)}
	for i := range shards {
		st.bases[i] = p.s.keys.prefix + ":a:{" + escapeTag(name) + "/" + strconv.Itoa(i) + "}:"
	}
	return st
}

func (s *agentStore) errf(format string, args ...any) error {
	return fmt.Errorf("redisstore: agent store %q: "+format, append([]any{s.name}, args...)...)
}

// redisErr wraps an error of Redis, classified (broker.ErrUnavailable, …).
func (s *agentStore) redisErr(err error, format string, args ...any) error {
	return s.errf(format+": %w", append(args, s.p.s.classify(err))...)
}

// shard returns the shard a record key belongs to.
func (s *agentStore) shard(key string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(s.shards))
}

func (s *agentStore) recordKey(key string) string { return s.bases[s.shard(key)] + "r:" + key }

// Put stores value and tags under key, replacing any earlier value and tags, atomically with
// the tag indexes.
func (s *agentStore) Put(key string, value []byte, tags ...spi.Tag) error {
	if err := agentspi.CheckPut(key, value, tags); err != nil {
		return s.errf("%w", err)
	}
	ctx, cancel := agentContext()
	defer cancel()
	base := s.bases[s.shard(key)]
	res, err := scriptAgentWrite.Run(ctx, s.p.s.client, []string{base + "r:" + key},
		base, "p", key, encodeRecord(value, tags)).Result()
	if err != nil {
		return s.redisErr(err, "put %q", key)
	}
	if res != statusOK {
		return s.errf("put %q: unexpected script answer %v", key, res)
	}
	return nil
}

// Get returns a copy of the value under key, or an error wrapping spi.ErrDataNotFound.
func (s *agentStore) Get(key string) ([]byte, error) { return agentspi.Get(s.record, s.errf, key) }

// GetTags returns the tags stored with key, or an error wrapping spi.ErrDataNotFound.
func (s *agentStore) GetTags(key string) ([]spi.Tag, error) {
	return agentspi.GetTags(s.record, s.errf, key)
}

// record reads key's value and tags, or fails with spi.ErrDataNotFound; an error of Redis is
// classified (broker.ErrUnavailable, …).
func (s *agentStore) record(key string) ([]byte, []spi.Tag, error) {
	ctx, cancel := agentContext()
	defer cancel()
	raw, err := s.p.s.client.Get(ctx, s.recordKey(key)).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil, spi.ErrDataNotFound
	case err != nil:
		return nil, nil, s.p.s.classify(err)
	}
	return decodeRecord(raw)
}

// GetBulk returns the values under keys, in order, in one pipelined round trip; a missing key
// gives a nil value.
func (s *agentStore) GetBulk(keys ...string) ([][]byte, error) {
	if err := agentspi.CheckKeys(keys); err != nil {
		return nil, s.errf("%w", err)
	}
	ctx, cancel := agentContext()
	defer cancel()
	raws, err := s.getRecords(ctx, keys)
	if err != nil {
		return nil, s.redisErr(err, "get bulk")
	}
	values := make([][]byte, len(keys))
	for i, raw := range raws {
		if raw == nil {
			continue
		}
		if values[i], _, err = decodeRecord(raw); err != nil {
			return nil, s.errf("get bulk: %q: %w", keys[i], err)
		}
	}
	return values, nil
}

// getRecords reads the records of keys in one pipeline (nil for a missing key).
func (s *agentStore) getRecords(ctx context.Context, keys []string) ([][]byte, error) {
	cmds := make([]*redis.StringCmd, len(keys))
	_, err := s.p.s.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, key := range keys {
			cmds[i] = pipe.Get(ctx, s.recordKey(key))
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, cmd := range cmds {
		raw, err := cmd.Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return nil, err
		default:
			out[i] = raw
		}
	}
	return out, nil
}

// Delete removes key, its value and its tags. Deleting a missing key is not an error.
func (s *agentStore) Delete(key string) error {
	if err := agentspi.CheckKey("delete", key); err != nil {
		return s.errf("%w", err)
	}
	ctx, cancel := agentContext()
	defer cancel()
	base := s.bases[s.shard(key)]
	res, err := scriptAgentWrite.Run(ctx, s.p.s.client, []string{base + "r:" + key}, base, "d", key, "").Result()
	if err != nil {
		return s.redisErr(err, "delete %q", key)
	}
	if res != statusOK {
		return s.errf("delete %q: unexpected script answer %v", key, res)
	}
	return nil
}

// Batch applies the operations in order: an operation with a nil Value deletes its key. With
// PutOptions.IsNewKey, a key that already exists (stored, or put earlier in the batch) fails the
// batch with an error wrapping spi.ErrDuplicateKey. The operations of each shard run in one
// script, all of them or none; the shards' scripts go in one pipelined round trip, after a
// first round trip that checks every IsNewKey key, so that in the absence of concurrent writers
// a duplicate key fails the whole batch before anything is written.
func (s *agentStore) Batch(operations []spi.Operation) error {
	if err := agentspi.CheckBatch(operations); err != nil {
		return s.errf("%w", err)
	}
	type shardOps struct {
		args  []any // base, then kind, key, record per operation
		index []int // index in operations of each of the shard's operations
	}
	byShard := map[int]*shardOps{}
	var order []int
	var newKeys []string         // keys put with IsNewKey before any other operation on them
	touched := map[string]bool{} // keys of the operations so far
	for i, op := range operations {
		kind, rec := "d", []byte(nil)
		if op.Value != nil {
			kind, rec = "p", encodeRecord(op.Value, op.Tags)
			if op.PutOptions != nil && op.PutOptions.IsNewKey {
				kind = "n"
				if !touched[op.Key] {
					newKeys = append(newKeys, op.Key)
				}
			}
		}
		touched[op.Key] = true
		n := s.shard(op.Key)
		so := byShard[n]
		if so == nil {
			so = &shardOps{args: []any{s.bases[n]}}
			byShard[n] = so
			order = append(order, n)
		}
		so.args = append(so.args, kind, op.Key, rec)
		so.index = append(so.index, i)
	}
	ctx, cancel := agentContext()
	defer cancel()
	if len(order) > 1 && len(newKeys) > 0 {
		raws, err := s.getRecords(ctx, newKeys)
		if err != nil {
			return s.redisErr(err, "batch")
		}
		for i, raw := range raws {
			if raw != nil {
				return s.errf("batch: key %q: %w", newKeys[i], spi.ErrDuplicateKey)
			}
		}
	}
	calls := make([]scriptCall, len(order))
	for i, n := range order {
		calls[i] = scriptCall{scriptAgentWrite, []string{s.bases[n] + "r:"}, byShard[n].args}
	}
	for i, cmd := range s.p.s.runScripts(ctx, calls) {
		res, err := cmd.Result()
		if err != nil {
			return s.redisErr(err, "batch")
		}
		if dup, ok := res.([]any); ok && len(dup) == 2 {
			j, _ := dup[1].(int64)
			op := byShard[order[i]].index[j]
			return s.errf("batch: operation %d (%q): %w", op, operations[op].Key, spi.ErrDuplicateKey)
		}
		if res != statusOK {
			return s.errf("batch: unexpected script answer %v", res)
		}
	}
	return nil
}

// Flush does nothing: every write is done before it returns.
func (s *agentStore) Flush() error { return nil }

// Close takes the store off the provider's open list. The handle keeps working.
func (s *agentStore) Close() error {
	s.p.OpenStores.Remove(s.name, s)
	return nil
}

// scriptCall is one script run of a pipeline.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// runScripts runs the calls in one pipeline (EVALSHA) and returns their commands, whose errors
// the caller checks one by one. Calls that Redis answers with NOSCRIPT (it lost its script
// cache: a restart, a failover, a new cluster node) did not run: runScripts loads the scripts
// and runs those calls again, and only those, so that no write runs twice.
func (s *Store) runScripts(ctx context.Context, calls []scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	todo := make([]int, len(calls))
	for i := range todo {
		todo[i] = i
	}
	for attempt := 0; ; attempt++ {
		_, _ = s.client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for _, i := range todo {
				cmds[i] = calls[i].script.EvalSha(ctx, pipe, calls[i].keys, calls[i].args...)
			}
			return nil
		})
		var again []int
		for _, i := range todo {
			if err := cmds[i].Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
				again = append(again, i)
			}
		}
		if len(again) == 0 || attempt > 0 {
			return cmds
		}
		for _, i := range again {
			// ScriptLoad reaches every primary of a cluster; an error shows in the rerun.
			_ = calls[i].script.Load(ctx, s.client).Err()
		}
		todo = again
	}
}

// encodeRecord lays out a value and its tags as a list (see appendList) marked "1" of each
// tag's name and value, then the value.
func encodeRecord(value []byte, tags []spi.Tag) []byte {
	fields := make([]string, 0, 2*len(tags))
	for _, t := range tags {
		fields = append(fields, t.Name, t.Value)
	}
	return append(appendList(nil, '1', fields...), value...)
}

// decodeRecord splits a record into its value (never nil) and tags.
func decodeRecord(raw []byte) (value []byte, tags []spi.Tag, err error) {
	bad := errors.New("corrupt record")
	if len(raw) == 0 || raw[0] != '1' {
		return nil, nil, fmt.Errorf("%w: unknown format", bad)
	}
	fields, value, err := cutList(raw[1:])
	switch {
	case errors.Is(err, errListLength):
		return nil, nil, fmt.Errorf("%w: bad tag list length", bad)
	case err != nil && len(fields)%2 == 0:
		return nil, nil, fmt.Errorf("%w: bad tag name", bad)
	case err != nil || len(fields)%2 == 1:
		return nil, nil, fmt.Errorf("%w: bad tag value", bad)
	}
	for i := 0; i < len(fields); i += 2 {
		tags = append(tags, spi.Tag{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte{}, value...), tags, nil
}
