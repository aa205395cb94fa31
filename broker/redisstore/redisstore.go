// Package redisstore is the production store: broker.Store, the webhook outbox (broker.Outbox),
// the DIDComm agent's storage (aries-framework-go's storage SPI) and cross-replica session
// events (broker.Events), all on one Redis — standalone, Sentinel or Cluster — through a
// go-redis v9 UniversalClient.
//
// Several stateless service replicas share one Redis: every broker.Store and broker.Outbox
// method is atomic on its own (a Lua script checks and writes in one step), so replicas racing
// on one session produce one outcome, replicas leasing deliveries never get the same one within
// its lease, and a replica that dies loses nothing that was acknowledged.
//
// # Connection URL
//
// One URL selects the deployment; Open and ValidateURL accept:
//
//	redis://[user:password@]host[:port][/db][?option=value…]     standalone
//	rediss://…                                                    standalone over TLS
//	unix://[user:password@]/path/to/redis.sock[?db=N&…]           standalone over a Unix socket
//	redis+sentinel://[user:password@]host[:port][/db]?master_name=NAME[&addr=host:port…]
//	rediss+sentinel://…                                           Sentinel, TLS to every node
//	redis+cluster://[user:password@]host[:port][?addr=host:port…]
//	rediss+cluster://…                                            Cluster over TLS
//
// The options are go-redis's (ParseURL, ParseFailoverURL, ParseClusterURL), in snake case:
// dial_timeout=3s, read_timeout=2s, pool_size=20, max_retries=2, skip_verify=true, … For
// Sentinel the user info authenticates to the sentinels and the username/password options to
// the Redis nodes; more sentinels (or cluster seed nodes) are given as repeated addr options.
// Errors name the part of the URL that is wrong and never echo its password.
//
// # Key layout
//
// Every key starts with Options.Prefix and ":" (default "hearro:"), so one Redis can hold
// several deployments and `SCAN MATCH prefix:*` finds everything this package wrote.
//
//	prefix:{b}:s:<session ID>              session: 0x01, version (8 bytes, big endian), JSON
//	prefix:{b}:si:<invitation ID>          → session ID
//	prefix:{b}:st:<thread ID>              → session ID
//	prefix:{b}:sw:due                      sorted set of the IDs of sessions that still wait,
//	                                       by ExpiresAt (Unix µs): the expiry sweep
//	prefix:{b}:sw:chat                     the same of verified sessions: the rebind sweep
//	prefix:{b}:i:<identity ID>             identity: the sessions that verified it, then the
//	                                       identity, compact binary (see codec.go)
//	prefix:{b}:if:<flex identity>          → identity ID
//	prefix:{b}:ids                         index (see below) of identity IDs
//	prefix:{b}:ix:i:<issuer DID>           index of the IDs of that issuer's identities
//	prefix:{b}:ix:t:<credential type>      index of IDs, by credential type
//	prefix:{b}:ixc:<len>:<claim>           index of the claim's text values, each followed by
//	                                       an ID: <len of text>:<text><ID>
//	prefix:{b}:ixp:<len>:<index><bound>    a further chunk of the index whose key is
//	                                       prefix:{b}:<index>: its members from bound on
//	prefix:{b}:ixd:<index>                 sorted set of the bounds of that index's chunks
//	prefix:{b}:ix:c:<len>:<claim><text>    sorted set of IDs with that claim value, as earlier
//	                                       versions kept them: read while it exists, moved
//	                                       into prefix:{b}:ixc:… by the first write
//	prefix:{b}:secret:<name>               a service secret
//	prefix:{b}:ob:q:<delivery ID>          queued webhook delivery: hash of its JSON, payload,
//	                                       attempts, next attempt, last error, due member,
//	                                       subject (if any)
//	prefix:{b}:ob:due                      sorted set of queued deliveries by due time: score
//	                                       Unix ms, member ns-within-the-ms (6 digits) + ID
//	prefix:{b}:ob:x:<delivery ID>          dead letter: the same hash, without due member
//	prefix:{b}:ob:dead                     sorted set (all scores 0) of dead-letter IDs
//	prefix:{b}:ob:s:<subject>              set of the IDs of the deliveries, queued or dead,
//	                                       whose Subject is that identity ID
//
//	prefix:a:{<store>}:cfg                 agent store: shard count and configured tag names
//	prefix:a:{<store>/<n>}:r:<key>         agent record of shard n: tags and value
//	prefix:a:{<store>/<n>}:n:<tag>         sorted set of the shard's keys having the tag
//	prefix:a:{<store>/<n>}:v:<tag>:<value> sorted set of the shard's keys with tag:value
//
// An index is an ordered set of members (all scores 0) kept as sorted sets of at most 128
// members each — its first chunk at the index's key, the others named after their least
// member and listed in a directory — so that each stays a compact listpack in Redis's default
// configuration (zset-max-listpack-entries 128): see luaIndex in scripts.go.
//
// Every broker key shares the hash tag {b}: in a Cluster they all live in one hash slot, hence
// on one primary, because a transition writes a session, its indexes, an identity, its indexes
// and the webhook deliveries it reports (a transactional outbox) in one atomic script, and
// Redis runs a script on one slot only. The broker's data is
// small (sessions expire; an identity is a few hundred bytes), so one slot is not a capacity
// limit; it does mean the broker's load goes to one primary, and its failover is the broker's.
// The agent's data — connections, DID documents, keys, protocol state: the bulk — is spread:
// each agent store is split into Options.AgentShards shards (16 by default, fixed per store
// when the store is first opened), each shard a hash tag of its own, so records and their tag
// indexes are atomic per shard and spread over the whole cluster. Store names are lower-cased
// and escaped (%, {, } and / as %XX) inside the tags.
//
// Scripts declare their first key (which picks the slot); some also read or write keys they
// derive from their arguments, always under the same hash tag, so in the same slot. Cluster
// clients route by the declared key; Redis only requires that a script stay in its slot. The
// scripts that queue deliveries declare every outbox key they write; Lease and DeadLetters
// declare their index and derive the records' keys from it; Done derives the delivery's
// subject set from its record, and DeleteIdentity the keys of the deliveries its subject set
// lists (prefixes under {b}, passed as arguments). The scripts that read or write identity
// indexes declare each index's key and derive its other chunks and its directory from it (and
// get a claim index's legacy key as an argument).
//
// # Outbox
//
// A delivery's due time — its NextAttempt, or the end of its lease while a sender has it — is
// its place in prefix:{b}:ob:due, exact to the nanosecond (see outbox.go). Lease is one script
// that takes the due deliveries in (due time, ID) order and moves each to now+lease; Redis runs
// one script at a time, so two Lease calls, from any replicas, never get one delivery while it
// is leased. Due times are compared with the now the caller passes, not with Redis's clock:
// replicas' clocks must agree to well within a lease. Retry rewrites attempts, next attempt and
// last error in place and moves the due time; Bury renames the record to its dead-letter key.
// A delivery with a Subject is listed in its subject's set (prefix:{b}:ob:s:<subject>) while
// it is queued or dead; Done takes it out, and the erasure of the subject removes every
// delivery the set lists, and the set, in the erasure's own script (see DeleteIdentity).
//
// # Round trips
//
// CreateSession, Session, SessionByInvitation/Thread, Identity, IdentityByFlex, an agent Put,
// Get or Delete: one round trip each. Transition: two (a read script, then a conditional write
// script; see Transition), with or without deliveries to queue, more only when it loses a
// race. DeleteIdentity: two, with or without deliveries. Lease, Done, Retry, Bury and a page
// of DeadLetters: one each. A page of ListIdentities: one, unless the filter's time bounds drop
// many candidates. An agent Query: one for all shards, then one per page of records.
//
// # Retention
//
// A session and its invitation and thread index entries expire at ExpiresAt plus
// Options.SessionRetention (24 hours by default): every write passes that instant (SET … PXAT),
// so a transition that changes ExpiresAt moves the expiry of all three. A session without
// ExpiresAt does not expire. Identities, their indexes, secrets and agent records never expire.
// Neither do queued webhook deliveries (a delivery leaves the queue by Done, Bury or the
// erasure of its Subject, never by age) nor dead letters, which only the erasure of their
// Subject removes: a delivery must not be lost, so retention of dead letters is the operator's
// decision (and the payloads of those without a Subject may hold personal data that
// DeleteIdentity does not reach). Subject sets never expire either; one is gone with its last
// member.
//
// DeleteIdentity erases an identity, every index entry that names it, every reference to it in
// the sessions that verified it and every delivery about it: each identity record lists those
// sessions (pruned of the expired ones at each verification), and its subject set those
// deliveries, so erasure finds them without a scan. Agent records (the customer's DIDComm
// connection, DID documents) are the agent's to delete.
//
// # Memory
//
// An identity with the demo credential's three claims takes about 480 bytes of Redis memory in
// the keys it owns (its record, ≈ 210 bytes: DIDs, pseudonyms, UUIDs and ULIDs are stored as
// their bytes, times as deltas, common claim names as one byte; and its flex identity entry)
// and about 715 bytes counting its entries in the indexes (about 35 bytes each in a chunk,
// where a sorted set per index, or a key per claim value, cost 120 to 140); see
// BenchmarkIdentityMemory.
//
// # Errors
//
// redis.Nil becomes broker.ErrNotFound; a Redis that cannot be reached, is loading its data,
// is read-only after a failover, is out of memory or whose cluster is down gives errors
// matching broker.ErrUnavailable. Errors of the caller's context are returned as they are.
//
// redisstore depends on broker, go-redis and aries-framework-go's storage SPI; it must not
// depend on api, identity or flex.
package redisstore

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
)

// Defaults of Options.
const (
	DefaultPrefix           = "hearro"
	DefaultSessionRetention = 24 * time.Hour
	DefaultAgentShards      = 16
)

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Prefix starts every key (followed by ":"); default DefaultPrefix. It must not contain
	// '{' or '}', which Redis Cluster reads as a hash tag.
	Prefix string
	// Logger receives the store's warnings (event bus reconnects, …); nil discards.
	Logger *slog.Logger
	// SessionRetention is how long a session is kept after its ExpiresAt; default
	// DefaultSessionRetention.
	SessionRetention time.Duration
	// AgentShards is the number of shards (hash slots) of each agent store created from now on;
	// default DefaultAgentShards. Stores that exist keep the count they were created with.
	AgentShards int
	// MasterKey (MasterKeySize bytes) seals the service secrets (see Secret); without it
	// Secret refuses. Every process sharing the Redis needs the same one.
	MasterKey []byte
}

// Store is a Redis-backed broker.Store and aries-framework-go storage provider. It is safe for
// concurrent use by many goroutines and many processes sharing the Redis.
type Store struct {
	client    redis.UniversalClient
	log       *slog.Logger
	keys      keys
	retention time.Duration
	shards    int
	agent     *agentProvider
	aead      cipher.AEAD // seals the service secrets; nil without Options.MasterKey
}

var _ broker.Store = (*Store)(nil)

// Open connects to the Redis the URL names (see the package comment for the forms), checks
// that it answers and loads the store's scripts. A Redis that does not answer gives an error
// matching broker.ErrUnavailable.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	if err := checkPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	client, err := NewClient(rawURL)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, client, opts)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	return s, nil
}

// New returns a Store over a client the caller built; Close closes it. Open is New over the
// client a URL describes.
func New(ctx context.Context, client redis.UniversalClient, opts Options) (*Store, error) {
	if err := checkPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	s := &Store{
		client:    client,
		log:       opts.Logger,
		keys:      newKeys(cmpOr(opts.Prefix, DefaultPrefix)),
		retention: opts.SessionRetention,
		shards:    opts.AgentShards,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.retention <= 0 {
		s.retention = DefaultSessionRetention
	}
	if s.shards <= 0 {
		s.shards = DefaultAgentShards
	}
	if opts.MasterKey != nil {
		aead, err := newSecretAEAD(opts.MasterKey)
		if err != nil {
			return nil, err
		}
		s.aead = aead
	}
	if err := s.Ping(ctx); err != nil {
		return nil, fmt.Errorf("redisstore: open: %w", err)
	}
	for _, sc := range allScripts {
		if err := sc.Load(ctx, client).Err(); err != nil {
			return nil, fmt.Errorf("redisstore: open: load scripts: %w", s.classify(err))
		}
	}
	s.agent = newAgentProvider(s)
	return s, nil
}

func checkPrefix(p string) error {
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("redisstore: prefix %q must not contain '{' or '}'", p)
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Client returns the store's Redis client, for health checks, metrics hooks and tests.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Prefix returns the prefix every key of this store starts with (without the ":").
func (s *Store) Prefix() string { return s.keys.prefix }

// Close closes the Redis client. Afterwards every method fails with an error matching
// broker.ErrUnavailable. Events built on the store must be closed first.
func (s *Store) Close() error {
	if err := s.client.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// Ping reports whether Redis answers; otherwise the error matches broker.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		err = s.classify(err)
		if !errors.Is(err, broker.ErrUnavailable) && ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
		}
		return fmt.Errorf("redisstore: ping: %w", err)
	}
	return nil
}

// classify marks errors that mean "Redis cannot serve this now" with broker.ErrUnavailable
// and redis.Nil with broker.ErrNotFound; other errors come back unchanged.
func (s *Store) classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, redis.Nil):
		return broker.ErrNotFound
	case unavailable(err):
		return fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
	}
	return err
}

// unavailable reports whether err says Redis could not be reached or cannot serve right now.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's context ended (go-redis's own timeouts are net errors)
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, redis.ErrClosed), errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted),
		redis.IsLoadingError(err), redis.IsReadOnlyError(err), redis.IsClusterDownError(err),
		redis.IsTryAgainError(err), redis.IsMasterDownError(err), redis.IsMaxClientsError(err),
		redis.IsOOMError(err), redis.IsNoReplicasError(err):
		return true
	}
	// Errors go-redis raises itself when it has no connection to give (e.g. no cluster node
	// reachable) are plain strings.
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") ||
		strings.Contains(msg, "i/o timeout") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "circuit breaker")
}

// errf formats a store error: "redisstore: <what>: <err>", with err classified.
func (s *Store) errf(err error, format string, args ...any) error {
	return fmt.Errorf("redisstore: "+format+": %w", append(args, s.classify(err))...)
}
