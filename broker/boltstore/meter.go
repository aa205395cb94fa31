package boltstore

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/hearro/trustbroker/broker"
)

// Meter receives the store's measurements: one per transaction. It is declared here so that
// the store does not know which monitoring system counts them (api/admin adapts it to
// Prometheus). op is view or update; result is ok, not_found, conflict (the broker's own
// answers, not failures of the store) or error. Implementations must be safe for concurrent
// use and must not block.
type Meter interface {
	StoreOperation(op, result string, took time.Duration)
}

// Measure makes every transaction from now on report to m. Call it once, right after Open,
// before the store is used.
func (db *DB) Measure(m Meter) { db.meter = m }

// measured runs fn in a transaction of tx (bbolt's View or Update) and reports it.
func (db *DB) measured(op string, tx func(func(*bolt.Tx) error) error, fn func(*bolt.Tx) error) error {
	if db.meter == nil {
		return db.run(tx, fn)
	}
	start := time.Now()
	err := db.run(tx, fn)
	db.meter.StoreOperation(op, result(err), time.Since(start))
	return err
}

func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, broker.ErrNotFound):
		return "not_found"
	case errors.Is(err, broker.ErrConflict), errors.Is(err, broker.ErrLeaseLost):
		return "conflict"
	}
	var se *broker.StateError
	if errors.As(err, &se) {
		return "conflict"
	}
	return "error"
}
