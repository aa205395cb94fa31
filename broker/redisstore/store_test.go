package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
	"github.com/hearro/trustbroker/broker/internal/agentspi/agentspitest"
	"github.com/hearro/trustbroker/broker/redisstore"
	"github.com/hearro/trustbroker/broker/storetest"
	"github.com/hearro/trustbroker/internal/testenv/redistest"
)

// harness is the broker.Store suite's view of stores on url, each under the key prefix prefix
// returns ("" for a fresh one). A replica is another store, with its own client, under the
// same prefix. The erasure case reads every key under the store's prefix, on every primary,
// names and contents whatever their type.
func harness(url string, prefix func() string) storetest.Harness {
	return storetest.Harness{
		Open: func(t *testing.T) broker.Store { return open(t, url, prefix()) },
		Replica: func(t *testing.T, st broker.Store) broker.Store {
			return open(t, url, st.(*redisstore.Store).Prefix())
		},
		Dump: func(t *testing.T, st broker.Store) map[string]string {
			s := st.(*redisstore.Store)
			return redistest.Dump(t, s.Client(), s.Prefix())
		},
		// The subject set, which is gone with its last member.
		Subjects: func(t *testing.T, st broker.Store, subject string) []string {
			s := st.(*redisstore.Store)
			set := s.Prefix() + ":{b}:ob:s:" + subject
			ids, err := s.Client().SMembers(t.Context(), set).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.Client().Exists(t.Context(), set).Result(); err != nil || (n == 1) != (len(ids) > 0) {
				t.Errorf("EXISTS %s = %d, %v with %d members", set, n, err, len(ids))
			}
			return ids
		},
		Kept: func(st broker.Store, k storetest.Kept) []storetest.Record {
			p := st.(*redisstore.Store).Prefix() + ":{b}:ob:"
			memberID := k.Identity.Claims["memberId"].(string)
			return []storetest.Record{
				// The other customer's memberId index entry: the value's length, the value, then the ID.
				{Holds: memberID + k.Identity.ID},
				{Key: p + "q:" + k.Delivery.ID, Holds: memberID},
				{Key: p + "s:" + k.Identity.ID, Holds: k.Delivery.ID},
				{Key: p + "q:" + k.Erasure.ID, Holds: "identity.erased"},
			}
		},
	}
}

// TestConformance runs the broker.Store suite against a private redis-server, each subtest
// under a fresh key prefix.
func TestConformance(t *testing.T) {
	storetest.Run(t, harness(redistest.Server(t).URL(), newPrefix))
}

// TestConformanceShared runs the suite on the shared Redis (REDIS_URL or 127.0.0.1:6379),
// under a prefix whose keys are deleted afterwards.
func TestConformanceShared(t *testing.T) {
	shared := redistest.Shared(t)
	var n atomic.Int64
	storetest.Run(t, harness(shared.URL, func() string { return fmt.Sprintf("%s:%d", shared.Prefix, n.Add(1)) }))
}

// TestConformanceCluster runs the suite on a three-node Redis Cluster.
func TestConformanceCluster(t *testing.T) {
	storetest.Run(t, harness(sharedCluster(t).URL(), newPrefix))
}

// realIdentity returns an identity shaped like the service's (see storetest.Customer).
func realIdentity(i int, now time.Time) *broker.Identity { return storetest.Customer(i, now) }

// verify stores ident through a fresh session (see storetest.Verify).
func verify(t testing.TB, st broker.Store, sid string, ident *broker.Identity, now time.Time) *broker.Session {
	t.Helper()
	return storetest.Verify(t, st, sid, ident, now)
}

func TestValidateURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want redisstore.Topology
		err  string // part of the error, "" for none
	}{
		{"redis://127.0.0.1:6379", redisstore.Standalone, ""},
		{"redis://user:pw@localhost/3?dial_timeout=3s&pool_size=5", redisstore.Standalone, ""},
		{"rediss://cache.example:6380?skip_verify=true", redisstore.Standalone, ""},
		{"unix:///run/redis.sock?db=2", redisstore.Standalone, ""},
		{"redis+sentinel://s1:26379/0?master_name=mymaster&addr=s2:26379&password=pw", redisstore.Sentinel, ""},
		{"rediss+sentinel://s1:26379?master_name=mymaster", redisstore.Sentinel, ""},
		{"redis+cluster://n1:7000?addr=n2:7000&addr=n3:7000", redisstore.Cluster, ""},
		{"rediss+cluster://n1:7000", redisstore.Cluster, ""},
		{"", "", "empty Redis URL"},
		{"http://localhost:6379", "", `unknown scheme "http"`},
		{"redis+ring://n1:7000", "", "must be sentinel or cluster"},
		{"redis://", "", "no host"},
		{"redis://h:6379?master_name=m", "", "master_name is a Sentinel option: use redis+sentinel://"},
		{"redis://h:6379?addr=h2:6379", "", "need redis+cluster://"},
		{"redis+sentinel://s1:26379", "", "needs master_name"},
		{"redis+cluster://n1:7000/2", "", "no database number"},
		{"redis://h:6379?dial_timout=3s", "", "unexpected option: dial_timout"},
		{"redis://h:6379/x", "", "invalid database number"},
		{"redis://user:s3cret@h:6379?bogus=1", "", "bogus"},
		{"redis://user:s3cret@h:6379/%zz", "", "not a URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			got, err := redisstore.ValidateURL(tc.url)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("ValidateURL = %v", err)
			case tc.err == "" && got != tc.want:
				t.Errorf("ValidateURL = %s, want %s", got, tc.want)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("ValidateURL = %v, want an error containing %q", err, tc.err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	t.Run("Open rejects a prefix with a hash tag", func(t *testing.T) {
		if _, err := redisstore.Open(t.Context(), "redis://127.0.0.1:1", redisstore.Options{Prefix: "a{b}"}); err == nil {
			t.Error("Open = nil error")
		}
	})
}

// TestSentinel opens the store through a real Sentinel watching a real Redis.
func TestSentinel(t *testing.T) {
	primary := redistest.Server(t)
	sentinel := redistest.Sentinel(t, primary, "mymaster")
	st := open(t, "redis+sentinel://"+sentinel.Addr()+"?master_name=mymaster", "")
	verify(t, st, "s1", realIdentity(1, time.Now()), time.Now())
	// The data is on the primary the Sentinel named.
	n, err := primary.Client(t).Exists(t.Context(), st.Prefix()+":{b}:s:s1").Result()
	if err != nil || n != 1 {
		t.Errorf("session key on the primary: %d, %v", n, err)
	}
}

// TestExpiry checks the TTL of every key: a session and its index entries expire at
// ExpiresAt + retention, moved by a transition that moves ExpiresAt; identities, secrets,
// queued deliveries, dead letters and subject sets never expire.
func TestExpiry(t *testing.T) {
	srv := redistest.Server(t)
	st := open(t, srv.URL(), "")
	ctx, c := t.Context(), st.Client()
	now := time.Now().Truncate(time.Millisecond)
	ident := realIdentity(1, now)
	verify(t, st, "s1", ident, now)
	if _, err := st.Secret(ctx, "k", func() ([]byte, error) { return []byte("x"), nil }); err != nil {
		t.Fatal(err)
	}
	p := st.Prefix() + ":{b}:"
	expireAt := func(key string) int64 {
		t.Helper()
		ms, err := c.Do(ctx, "PEXPIRETIME", key).Int64()
		if err != nil {
			t.Fatalf("PEXPIRETIME %s = %v", key, err)
		}
		return ms
	}
	want := now.Add(10 * time.Minute).Add(redisstore.DefaultSessionRetention).UnixMilli()
	for _, key := range []string{p + "s:s1", p + "si:inv-s1", p + "st:th-s1"} {
		if got := expireAt(key); got != want {
			t.Errorf("%s expires at %d, want ExpiresAt + 24h = %d", key, got, want)
		}
	}
	for _, key := range []string{p + "i:" + ident.ID, p + "if:" + ident.FlexIdentity, p + "ids", p + "secret:k"} {
		if got := expireAt(key); got != -1 {
			t.Errorf("%s expires at %d, want never (-1)", key, got)
		}
	}
	later := now.Add(time.Hour)
	queued := broker.Delivery{ID: "01JDQ", Subject: "01JZQ", Payload: []byte(`{}`), NextAttempt: now}
	dead := broker.Delivery{ID: "01JDX", Subject: "01JZX", Payload: []byte(`{}`), NextAttempt: now.Add(-time.Second)}
	if _, err := st.Transition(ctx, "s1", broker.Transition{
		From: []broker.Status{broker.StatusVerified}, To: broker.StatusVerified,
		Apply:  func(s *broker.Session) { s.ExpiresAt = later },
		Outbox: []broker.Delivery{queued, dead},
	}, now); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Lease(ctx, now, 1, time.Minute); err != nil || len(got) != 1 || got[0].ID != dead.ID {
		t.Fatalf("Lease = %v, %v; want %s", got, err, dead.ID)
	}
	if err := st.Bury(ctx, dead); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{p + "ob:q:" + queued.ID, p + "ob:due", p + "ob:x:" + dead.ID, p + "ob:dead",
		p + "ob:s:" + queued.Subject, p + "ob:s:" + dead.Subject} {
		if got := expireAt(key); got != -1 {
			t.Errorf("%s expires at %d, want never (-1)", key, got)
		}
	}
	want = later.Add(redisstore.DefaultSessionRetention).UnixMilli()
	for _, key := range []string{p + "s:s1", p + "si:inv-s1", p + "st:th-s1"} {
		if got := expireAt(key); got != want {
			t.Errorf("after moving ExpiresAt: %s expires at %d, want %d", key, got, want)
		}
	}
}

// countingHook counts what the client sends: each command, and each pipeline, is one round
// trip.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// TestRoundTrips counts the round trips of the store's hot operations: a transition costs two
// (read, conditional write), with or without an identity, new or returning, with or without
// deliveries to queue; each outbox operation costs one.
func TestRoundTrips(t *testing.T) {
	topologies(t, func(t *testing.T, _, url string) {
		st := open(t, url, "")
		ctx := t.Context()
		hook := &countingHook{}
		st.Client().AddHook(hook)
		now := time.Now()
		for _, id := range []string{"s1", "s2"} {
			if err := st.CreateSession(ctx, &broker.Session{ID: id, Status: broker.StatusInvited, InvitationID: "inv-" + id, ExpiresAt: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
		count := func(what string, max int64, f func() error) {
			t.Helper()
			before := hook.n.Load()
			if err := f(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			n := hook.n.Load() - before
			t.Logf("%s: %d round trips", what, n)
			if n > max {
				t.Errorf("%s took %d round trips, want at most %d", what, n, max)
			}
		}
		step := func(id string, from, to broker.Status, ident *broker.Identity) func() error {
			return func() error {
				_, err := st.Transition(ctx, id, broker.Transition{From: []broker.Status{from}, To: to, Identity: ident,
					Apply: func(s *broker.Session) { s.ConnectionID = "c" }}, now)
				return err
			}
		}
		count("CreateSession", 1, func() error {
			return st.CreateSession(ctx, &broker.Session{ID: "s3", Status: broker.StatusInvited, InvitationID: "inv-s3"})
		})
		count("Transition", 3, step("s1", broker.StatusInvited, broker.StatusRequested, nil))
		count("Transition storing a new identity", 3, step("s1", broker.StatusRequested, broker.StatusVerified, realIdentity(1, now)))
		count("Transition storing a returning identity", 3, step("s2", broker.StatusInvited, broker.StatusVerified, realIdentity(1, now)))
		count("Transition refused (state)", 3, func() error {
			if _, err := st.Transition(ctx, "s2", broker.Transition{From: []broker.Status{broker.StatusInvited}, To: broker.StatusBound}, now); !errors.Is(err, broker.ErrConflict) {
				return fmt.Errorf("want ErrConflict, got %v", err)
			}
			return nil
		})
		count("SessionByInvitation", 1, func() error { _, err := st.SessionByInvitation(ctx, "inv-s1"); return err })
		count("IdentityByFlex", 1, func() error { _, err := st.IdentityByFlex(ctx, realIdentity(1, now).FlexIdentity); return err })
		count("ListIdentities", 1, func() error {
			_, err := st.ListIdentities(ctx, broker.IdentityFilter{Issuer: realIdentity(1, now).IssuerDID}, "", 10)
			return err
		})
		count("DeleteIdentity", 2, func() error { return st.DeleteIdentity(ctx, realIdentity(1, now).ID) })

		// The outbox: queuing deliveries costs a transition or an erasure nothing more.
		d := func(i int) broker.Delivery {
			return broker.Delivery{ID: fmt.Sprintf("01JD%022d", i), EventID: "e", Endpoint: "https://crm.example/hook",
				Type: "identity.verified", Subject: realIdentity(2, now).ID, Payload: []byte(`{}`), CreatedAt: now, NextAttempt: now}
		}
		count("Transition queuing deliveries", 2, func() error {
			_, err := st.Transition(ctx, "s3", broker.Transition{From: []broker.Status{broker.StatusInvited}, To: broker.StatusVerified,
				Identity: realIdentity(2, now), Outbox: []broker.Delivery{d(1), d(2), d(3)}}, now)
			return err
		})
		if err := st.Bury(ctx, d(1)); err != nil {
			t.Fatal(err)
		}
		// The erasure removes the deliveries about the identity, queued (2, 3) and dead (1),
		// and keeps its own, in the same two round trips.
		count("DeleteIdentity queuing and removing deliveries", 2, func() error {
			return st.DeleteIdentity(ctx, realIdentity(2, now).ID, d(4), d(5), d(6))
		})
		var leased []broker.Delivery
		count("Lease", 1, func() (err error) { leased, err = st.Lease(ctx, now, 10, time.Minute); return err })
		if len(leased) != 3 {
			t.Fatalf("leased %d deliveries, want 3", len(leased))
		}
		count("Done", 1, func() error { return st.Done(ctx, leased[0].ID) })
		count("Retry", 1, func() error { leased[1].Attempts++; return st.Retry(ctx, leased[1]) })
		count("Bury", 1, func() error { return st.Bury(ctx, leased[2]) })
		count("DeadLetters", 1, func() error { _, err := st.DeadLetters(ctx, "", 10); return err })
	})
}

// TestOutage stops Redis under a store in use: every operation fails with an error matching
// broker.ErrUnavailable (Ping included, see storetest.Unavailable and
// agentspitest.Unavailable); after a restart with the AOF on, what was written before is there
// and every operation works again (see storetest.BeforeRestart and agentspitest.BeforeRestart;
// scripts are reloaded as needed).
func TestOutage(t *testing.T) {
	srv := redistest.Server(t, redistest.WithAOF(true))
	// PoolSize exceeds the calls made while Redis is down: after PoolSize failed dials in a row
	// go-redis stops dialling for up to a second, which would fail the Ping after the restart.
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second, PoolSize: 64})
	st, err := redisstore.New(t.Context(), client, redisstore.Options{Prefix: newPrefix(), MasterKey: testMasterKey})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	after := storetest.BeforeRestart(t, st)
	afterAgent := agentspitest.BeforeRestart(t, st.AgentStorage())
	agent, err := st.AgentStorage().OpenStore("connections")
	if err != nil {
		t.Fatal(err)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	storetest.Unavailable(t, st)
	agentspitest.Unavailable(t, st.AgentStorage(), agent)

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping after the restart = %v", err)
	}
	after(t, st)
	afterAgent(t, st.AgentStorage())
}

// TestOutboxLayout checks the key layout the outbox writes against the documented one: a
// record per queued delivery, the due index, for each dead letter a record and the dead-letter
// index, and a set per subject, all under the broker's hash tag. (The suite's lease race,
// which every store runs, races replicas: see harness.)
func TestOutboxLayout(t *testing.T) {
	st := open(t, redistest.Server(t).URL(), "")
	ctx := t.Context()
	now := time.Now()
	const total, subjects = 150, 5
	var all []broker.Delivery
	for i := range total {
		all = append(all, broker.Delivery{ID: fmt.Sprintf("01JD%022d", i), EventID: fmt.Sprint(i), Endpoint: "https://crm.example/hook",
			Type: "identity.verified", Subject: fmt.Sprintf("01JZ%022d", i%subjects), Payload: []byte(`{}`), CreatedAt: now,
			NextAttempt: now.Add(-time.Duration(i) * time.Microsecond)})
	}
	for i := 0; i < total; i += 50 {
		sid := fmt.Sprintf("s%d", i)
		if err := st.CreateSession(ctx, &broker.Session{ID: sid, Status: broker.StatusRequested, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Transition(ctx, sid, broker.Transition{From: []broker.Status{broker.StatusRequested},
			To: broker.StatusRejected, Outbox: all[i : i+50]}, now); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Done(ctx, all[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := st.Bury(ctx, all[1]); err != nil {
		t.Fatal(err)
	}
	p := st.Prefix() + ":{b}:ob:"
	got := 0
	for key := range redistest.Dump(t, st.Client(), st.Prefix()) {
		if !strings.HasPrefix(key, p) {
			continue
		}
		got++
		switch rest := strings.TrimPrefix(key, p); {
		case rest == "due", rest == "dead", rest == "x:"+all[1].ID:
		case strings.HasPrefix(rest, "s:01JZ"):
		case strings.HasPrefix(rest, "q:"):
			if rest == "q:"+all[0].ID || rest == "q:"+all[1].ID {
				t.Errorf("key %s left behind by Done or Bury", key)
			}
		default:
			t.Errorf("unexpected outbox key %s", key)
		}
	}
	if want := total - 2 + 3 + subjects; got != want {
		t.Errorf("%d outbox keys, want %d", got, want)
	}
}
