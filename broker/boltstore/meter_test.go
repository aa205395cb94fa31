package boltstore_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/boltstore"
)

// opsMeter keeps the operations a store reports, as "op result".
type opsMeter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (m *opsMeter) StoreOperation(op, result string, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if took < 0 {
		op = "negative-" + op
	}
	m.ops[op+" "+result]++
}

// Each transaction is reported once, by kind and result: a session that is not there is
// not_found, not an error; a closed file is an error.
func TestMeasure(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "hearro.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := &opsMeter{ops: map[string]int{}}
	db.Measure(m)
	ctx := context.Background()
	if _, err := db.Secret(ctx, "k", func() ([]byte, error) { return []byte("0123456789abcdef0123456789abcdef"), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Session(ctx, "nope"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("Session: %v", err)
	}
	db.Close()
	if _, err := db.Session(ctx, "nope"); !errors.Is(err, broker.ErrUnavailable) {
		t.Fatalf("Session after Close: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ops["view not_found"] != 1 || m.ops["view error"] != 1 || m.ops["update ok"]+m.ops["view ok"] < 1 {
		t.Errorf("operations %v", m.ops)
	}
	for op := range m.ops {
		switch op {
		case "view ok", "update ok", "view not_found", "view error":
		default:
			t.Errorf("unexpected operation %q", op)
		}
	}
}
