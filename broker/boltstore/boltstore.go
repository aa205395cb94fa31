// Package boltstore is the embedded, single-node, persistent store: the zero-setup default.
//
// One bbolt file holds everything the service keeps — sessions, verified identities, their
// indexes, the service's own secrets (broker.Store) and the webhook outbox (broker.Outbox) —
// and, under a separate bucket namespace, the DIDComm agent's storage (AgentStorage,
// aries-framework-go's storage SPI). Every broker.Store and broker.Outbox method is atomic:
// whatever it reads to decide and everything it writes happen in one bbolt transaction
// (Transition reads, checks, and writes session, indexes, identity and the deliveries it queues
// in one Update; Lease picks the due deliveries and moves them to the end of their lease in
// one Update, and bbolt runs one Update at a time, so no two Lease calls get one delivery).
//
// Only one process can open the file at a time (bbolt takes an exclusive file lock), so this
// store fits a single service instance; deployments with several instances use the Redis store.
//
// boltstore implements broker.Store and broker.Outbox and passes broker/storetest. It depends on broker, bbolt and
// aries-framework-go's storage SPI only; it must not depend on api, identity or flex.
package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hearro/trustbroker/broker"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DefaultTimeout is how long Open waits for the file lock when Options.Timeout is zero.
const DefaultTimeout = time.Second

// ErrLocked is returned (wrapped) by Open when another process holds the database file.
var ErrLocked = errors.New("database is locked by another process")

// Options tune Open. The zero value is ready to use.
type Options struct {
	// Timeout is how long Open waits for another process to release the file lock before it
	// fails with ErrLocked. Zero or less means DefaultTimeout.
	Timeout time.Duration
}

// Bucket layout, all at the top level of the file. Values are JSON unless noted.
//
// The outbox (broker.Outbox) is four buckets. outbox holds the queued deliveries by ID, each
// value its current due time followed by the delivery record; outbox_due indexes them by due
// time then ID, so that Lease reads the oldest due first with one cursor; outbox_dead holds
// the dead letters by ID; outbox_subject indexes the deliveries that have a Subject, queued or
// dead, by Subject then ID, so that DeleteIdentity finds the ones it removes with one cursor. A
// due time is 12 bytes that sort as the instant (see dueKey): the delivery's NextAttempt, or the
// end of its lease while it is leased. A delivery record is the length of its JSON (4 bytes),
// the JSON of the delivery without payload (Subject included), then the payload's bytes as
// given (see encodeDelivery). Deliveries are kept until Done, Bury or the erasure of their
// Subject, dead letters until the erasure of their Subject; nothing in the file expires.
//
// sessions_due and sessions_awaiting_chat (sweep.go) were added the same way: Open builds
// them from the sessions of a file that lacks them.
//
// erasures (erasures.go) was added the same way; its records are the only ones that expire.
//
// outbox_subject was added after schema version 1 without changing it: Open creates it in a
// file that lacks it, whose deliveries (written before Subject existed) have no Subject. A
// build without it that opens a newer file leaves entries of the deliveries it removes behind;
// DeleteIdentity drops such entries (it checks each delivery's Subject before removing it).
var (
	bucketMeta         = []byte("meta")                   // schema → schemaVersion
	bucketSessions     = []byte("sessions")               // session ID → broker.Session
	bucketByInvitation = []byte("sessions_by_invitation") // invitation ID → session ID (raw)
	bucketByThread     = []byte("sessions_by_thread")     // thread ID → session ID (raw)
	bucketIdentities   = []byte("identities")             // identity ID → broker.Identity
	bucketByFlex       = []byte("identities_by_flex")     // flex identity → identity ID (raw)
	bucketIdentitySess = []byte("identity_sessions")      // identity ID + 0x00 + session ID → empty
	bucketChatSessions = []byte("chat_sessions")          // chat SID + 0x00 + session ID → until (RFC 3339)
	bucketSecrets      = []byte("secrets")                // name → secret bytes (raw)
	bucketOutbox       = []byte("outbox")                 // delivery ID → due (12 bytes) + delivery record
	bucketOutboxDue    = []byte("outbox_due")             // due (12 bytes) + delivery ID → empty
	bucketDeadLetters  = []byte("outbox_dead")            // delivery ID → delivery record
	bucketOutboxSubj   = []byte("outbox_subject")         // subject + 0x00 + delivery ID → empty
	bucketAgent        = []byte("afg")                    // one nested bucket per agent store
	bucketErasures     = []byte("erasures")               // erasure key → broker.Erasure (erasures.go)

	keySchema = []byte("schema")
)

// schemaVersion is the layout version written to new files; Open refuses files of another one.
const schemaVersion = "1"

// DB is an open store file. It is safe for concurrent use by many goroutines; bbolt serialises
// writers and lets readers run alongside them.
type DB struct {
	bolt  *bolt.DB
	path  string
	agent *agentProvider
	meter Meter // nil: not measured (see Measure)
}

var _ broker.Store = (*DB)(nil)

// Open opens the store file at path, creating it (mode 0600) and its parent directory (mode
// 0700) if they are missing. If another process has the file open, Open gives up after
// opts.Timeout with an error wrapping ErrLocked.
func Open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("boltstore: open: empty path")
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("boltstore: open %s: %w (waited %s)", path, ErrLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		indexed := tx.Bucket(bucketSessionsDue) != nil
		for _, name := range [][]byte{bucketSessionsDue, bucketAwaitingChat, bucketMeta, bucketSessions, bucketByInvitation, bucketByThread,
			bucketIdentities, bucketByFlex, bucketIdentitySess, bucketChatSessions, bucketSecrets,
			bucketOutbox, bucketOutboxDue, bucketDeadLetters, bucketOutboxSubj, bucketAgent, bucketErasures} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("file has schema version %q, this build reads %q", v, schemaVersion)
		}
		if !indexed {
			return buildSweepIndexes(tx)
		}
		return nil
	})
	if err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	db := &DB{bolt: b, path: path}
	db.agent = newAgentProvider(db)
	return db, nil
}

// Path returns the file the store was opened from.
func (db *DB) Path() string { return db.path }

// Close closes the file and releases its lock. Afterwards every method (including those of
// AgentStorage) fails with an error matching broker.ErrUnavailable. Close is idempotent.
func (db *DB) Close() error {
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", db.path, err)
	}
	return nil
}

// view and update run fn in a read-only or read-write transaction. Errors from fn come back as
// they are; errors from bbolt itself (a failed commit, a closed file) are wrapped, a closed file
// as broker.ErrUnavailable.
func (db *DB) view(fn func(*bolt.Tx) error) error { return db.measured("view", db.bolt.View, fn) }

func (db *DB) update(fn func(*bolt.Tx) error) error {
	return db.measured("update", db.bolt.Update, fn)
}

// run runs fn in a transaction of bbolt's View or Update.
func (db *DB) run(tx func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) error {
	var fnErr error
	err := tx(func(tx *bolt.Tx) error { fnErr = fn(tx); return fnErr })
	if err != nil && err == fnErr {
		return err
	}
	return db.boltErr(err)
}

func (db *DB) boltErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bolterrors.ErrDatabaseNotOpen):
		return fmt.Errorf("boltstore: %s: %w: %w", db.path, broker.ErrUnavailable, err)
	default:
		return fmt.Errorf("boltstore: %s: %w", db.path, err)
	}
}
