package redisstore_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// The benchmarks run against a private redis-server on loopback. Each store operation is
// measured next to a bare go-redis GET of a small key on the same server and client (same
// connection pool): every iteration runs the operation, then the GET, each timed on its own,
// so that both see the same machine load. They report, besides ns/op (which counts both):
//
//   - op-med-ns, op-p90-ns, op-p99-ns: the operation's median and tail latencies;
//   - get-med-ns: the bare GET's median latency;
//   - x-bare-get: op-med-ns / get-med-ns, how many bare GETs one operation costs;
//   - rt/op: the round trips one operation makes (commands and pipelines the client sends,
//     counted by a hook), which is deterministic: TestRoundTrips asserts the bounds.

func benchStore(b *testing.B) *redisstore.Store {
	b.Helper()
	return open(b, redistest.Server(b).URL(), "")
}

// benchOp runs op(i) for i = 1, 2, … next to a bare GET, and reports as above.
func benchOp(b *testing.B, st *redisstore.Store, op func(i int) error) {
	b.Helper()
	ctx := context.Background()
	key := st.Prefix() + ":bare"
	if err := st.Client().Set(ctx, key, "x", 0).Err(); err != nil {
		b.Fatal(err)
	}
	hook := &countingHook{}
	st.Client().AddHook(hook)
	var opTimes, getTimes []time.Duration
	var trips int64
	i := 0
	for b.Loop() {
		i++
		n0 := hook.n.Load()
		t0 := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		trips += hook.n.Load() - n0
		if err := st.Client().Get(ctx, key).Err(); err != nil {
			b.Fatal(err)
		}
		getTimes = append(getTimes, time.Since(t1))
		opTimes = append(opTimes, t1.Sub(t0))
	}
	slices.Sort(opTimes)
	slices.Sort(getTimes)
	opMed, getMed := quantile(opTimes, 0.5), quantile(getTimes, 0.5)
	b.ReportMetric(float64(opMed.Nanoseconds()), "op-med-ns")
	b.ReportMetric(float64(quantile(opTimes, 0.9).Nanoseconds()), "op-p90-ns")
	b.ReportMetric(float64(quantile(opTimes, 0.99).Nanoseconds()), "op-p99-ns")
	b.ReportMetric(float64(getMed.Nanoseconds()), "get-med-ns")
	b.ReportMetric(float64(opMed)/float64(getMed), "x-bare-get")
	b.ReportMetric(float64(trips)/float64(len(opTimes)), "rt/op")
}

// quantile returns the q-quantile (nearest rank) of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(math.Ceil(q*float64(len(sorted))))-1)]
}

func BenchmarkCreateSession(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	benchOp(b, st, func(i int) error {
		id := fmt.Sprintf("01JS%022d", i)
		return st.CreateSession(ctx, &broker.Session{ID: id, Status: broker.StatusInvited, Policy: "verified-customer",
			Nonce: "n", InvitationID: "inv-" + id, Invitation: []byte(`{"@id":"inv","@type":"https://didcomm.org/out-of-band/1.1/invitation"}`),
			CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(10 * time.Minute)})
	})
}

// BenchmarkTransition measures one conditional session write (read, check, Apply, write).
func BenchmarkTransition(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	if err := st.CreateSession(ctx, &broker.Session{ID: "s1", Status: broker.StatusRequested, InvitationID: "inv-1", ThreadID: "th-1", ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	tr := broker.Transition{
		From:  []broker.Status{broker.StatusRequested},
		To:    broker.StatusRequested,
		Apply: func(s *broker.Session) { s.ConnectionID = "conn-1" },
	}
	benchOp(b, st, func(int) error { _, err := st.Transition(ctx, "s1", tr, now); return err })
}

// BenchmarkTransitionVerify measures the verifying transition of a returning customer: the
// session and the identity upsert with its indexes.
func BenchmarkTransitionVerify(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	if err := st.CreateSession(ctx, &broker.Session{ID: "s1", Status: broker.StatusRequested, ExpiresAt: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	benchOp(b, st, func(int) error {
		_, err := st.Transition(ctx, "s1", broker.Transition{
			From: []broker.Status{broker.StatusRequested}, To: broker.StatusRequested, Identity: realIdentity(1, now),
		}, now)
		return err
	})
}

func BenchmarkIdentity(b *testing.B) {
	st := benchStore(b)
	ctx := context.Background()
	ident := realIdentity(1, time.Now())
	verify(b, st, "s1", ident, time.Now())
	benchOp(b, st, func(int) error { _, err := st.Identity(ctx, ident.ID); return err })
}

// BenchmarkEventsLatency reports the median publish → receive time between two replicas.
func BenchmarkEventsLatency(b *testing.B) {
	u, prefix := redistest.Server(b).URL(), newPrefix()
	pub := replica(b, u, prefix, redisstore.EventsOptions{})
	sub := replica(b, u, prefix, redisstore.EventsOptions{})
	var med, p90 time.Duration
	for b.Loop() {
		med, p90 = measureLatency(b, pub, sub, 1)
	}
	med, p90 = measureLatency(b, pub, sub, 500)
	b.ReportMetric(float64(med.Microseconds()), "median-µs")
	b.ReportMetric(float64(p90.Microseconds()), "p90-µs")
}

// BenchmarkIdentityMemory stores identities shaped like the service's (a pseudonym, did:key
// DIDs, the demo credential's three default claims with values unique to each customer) and
// reports Redis's MEMORY USAGE per identity:
//
//   - owned-B: the keys one identity owns — its record (with the session that verified it) and
//     its flex identity entry;
//   - amortized-B: every identity key (records, entries, all indexes: of all IDs, of the
//     issuer, the credential type and the claims, with their chunks and directories) divided
//     by the number of identities; record-amortized-B, flex-amortized-B and
//     index-amortized-B split it by kind.
func BenchmarkIdentityMemory(b *testing.B) {
	const n = 1000
	st := benchStore(b)
	ctx := context.Background()
	now := time.Now()
	for i := range n {
		verify(b, st, fmt.Sprintf("s%d", i), realIdentity(i, now), now)
	}
	c := st.Client()
	usage := func(key string) int64 {
		v, err := c.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			b.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		return v
	}
	p := st.Prefix() + ":{b}:"
	ident := realIdentity(n/2, now)
	owned := usage(p+"i:"+ident.ID) + usage(p+"if:"+ident.FlexIdentity)
	var records, flex, indexes int64
	iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
	for iter.Next(ctx) {
		switch key := iter.Val(); {
		case strings.HasPrefix(key, p+"s"): // sessions and their indexes: s:, si:, st:
		case strings.HasPrefix(key, p+"i:"):
			records += usage(key)
		case strings.HasPrefix(key, p+"if:"):
			flex += usage(key)
		default: // ids, ix…: the indexes
			indexes += usage(key)
		}
	}
	if err := iter.Err(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(owned), "owned-B")
	b.ReportMetric(float64(records+flex+indexes)/n, "amortized-B")
	b.ReportMetric(float64(records)/n, "record-amortized-B")
	b.ReportMetric(float64(flex)/n, "flex-amortized-B")
	b.ReportMetric(float64(indexes)/n, "index-amortized-B")
	rec, _ := c.Get(ctx, p+"i:"+ident.ID).Result()
	b.ReportMetric(float64(len(rec)), "record-B")
}
