package redisstore_test

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// opsMeter keeps the operations a store reports, as "op result".
type opsMeter struct {
	mu  sync.Mutex
	ops map[string]int
}

func (m *opsMeter) StoreOperation(op, result string, took time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops[op+" "+result]++
}

func (m *opsMeter) results(result string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, v := range m.ops {
		if regexp.MustCompile(` ` + result + `$`).MatchString(k) {
			n += v
		}
	}
	return n
}

// Every command reports its name (never a key) and result; Redis gone is an error.
func TestMeasure(t *testing.T) {
	srv := redistest.Server(t)
	ctx := context.Background()
	st, err := redisstore.Open(ctx, srv.URL(), redisstore.Options{Prefix: "metered"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := &opsMeter{ops: map[string]int{}}
	st.Measure(m)
	if _, err := st.Session(ctx, "nope"); !errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("Session: %v", err)
	}
	if m.results("ok")+m.results("not_found") == 0 || m.results("error") != 0 {
		t.Fatalf("operations %v", m.ops)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(ctx, "nope"); err == nil || errors.Is(err, broker.ErrNotFound) {
		t.Fatalf("Session with Redis stopped: %v", err)
	}
	if m.results("error") == 0 {
		t.Errorf("no error reported with Redis stopped: %v", m.ops)
	}
	name := regexp.MustCompile(`^[a-z]+ (ok|not_found|conflict|noscript|error)$`)
	m.mu.Lock()
	defer m.mu.Unlock()
	for op := range m.ops {
		if !name.MatchString(op) {
			t.Errorf("operation %q is not a command name and a result", op)
		}
	}
}
