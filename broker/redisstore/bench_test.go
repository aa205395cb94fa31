package redisstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/broker/redisstore/redistest"
)

// The benchmarks run against a private redis-server on loopback. Each store operation is
// measured next to a bare go-redis GET of a small key on the same server and client: every
// iteration runs the operation, then the GET, each timed on its own, so that both see the same
// machine load. op-ns is the operation's mean, get-ns the GET's, and x-bare-get their ratio:
// how many bare GETs one operation costs. (ns/op counts both.)

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
	var opTime, getTime time.Duration
	i := 0
	for b.Loop() {
		i++
		t0 := time.Now()
		if err := op(i); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := st.Client().Get(ctx, key).Err(); err != nil {
			b.Fatal(err)
		}
		getTime += time.Since(t1)
		opTime += t1.Sub(t0)
	}
	b.ReportMetric(float64(opTime.Nanoseconds())/float64(b.N), "op-ns")
	b.ReportMetric(float64(getTime.Nanoseconds())/float64(b.N), "get-ns")
	b.ReportMetric(float64(opTime)/float64(getTime), "x-bare-get")
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
//   - owned-B: the keys one identity owns — its record (with the session that verified it),
//     its flex identity entry and its claim index sets (the values are unique);
//   - amortized-B: every identity key (records, entries, all indexes including the shared ones
//     of the issuer, the credential type and all IDs) divided by the number of identities.
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
	for name, v := range ident.Claims {
		owned += usage(p + "ix:c:" + fmt.Sprint(len(name)) + ":" + name + v.(string))
	}
	var total int64
	iter := c.Scan(ctx, 0, p+"*", 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		if strings.HasPrefix(key, p+"s") { // sessions and their indexes: s:, si:, st:
			continue
		}
		total += usage(key)
	}
	for b.Loop() {
	}
	b.ReportMetric(float64(owned), "owned-B")
	b.ReportMetric(float64(total)/n, "amortized-B")
	rec, _ := c.Get(ctx, p+"i:"+ident.ID).Result()
	b.ReportMetric(float64(len(rec)), "record-B")
}
