package redistest

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Dump returns every key under prefix + ":" (every key of the server when prefix is empty)
// with its whole content as text: the key's name on the first line, then its value(s),
// whatever the type — a string's value, a hash's fields and values, a set's or list's
// members, a sorted set's members and scores, a stream's entries' IDs and fields. On a
// Cluster client it reads every primary. It is for tests that must see everything a store
// wrote, such as "an erasure leaves no trace": a key of a type it cannot read fails the test,
// and a key that expires while it reads is left out.
func Dump(t testing.TB, c redis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx := t.Context()
	match := "*"
	if prefix != "" {
		match = escapeGlob(prefix) + ":*"
	}
	out := map[string]string{}
	var mu sync.Mutex
	read := func(ctx context.Context, node redis.UniversalClient) error {
		got, err := dumpNode(ctx, t, node, match)
		mu.Lock()
		maps.Copy(out, got)
		mu.Unlock()
		return err
	}
	var err error
	if cc, ok := c.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error { return read(ctx, node) })
	} else {
		err = read(ctx, c)
	}
	if err != nil {
		t.Fatalf("redistest: dump of %q: %v", match, err)
	}
	return out
}

// dumpNode is Dump on one server.
func dumpNode(ctx context.Context, t testing.TB, c redis.UniversalClient, match string) (map[string]string, error) {
	out := map[string]string{}
	iter := c.Scan(ctx, 0, match, 1000).Iterator()
	for iter.Next(ctx) {
		key := iter.Val()
		var b strings.Builder
		b.WriteString(key + "\n")
		typ, err := c.Type(ctx, key).Result()
		if err != nil {
			return out, fmt.Errorf("TYPE %s: %w", key, err)
		}
		switch typ {
		case "string":
			v, err := c.Get(ctx, key).Result()
			if err != nil {
				return out, fmt.Errorf("GET %s: %w", key, err)
			}
			b.WriteString(v)
		case "hash":
			m, err := c.HGetAll(ctx, key).Result()
			if err != nil {
				return out, fmt.Errorf("HGETALL %s: %w", key, err)
			}
			for f, v := range m {
				fmt.Fprintf(&b, "%s=%s\n", f, v)
			}
		case "set":
			ms, err := c.SMembers(ctx, key).Result()
			if err != nil {
				return out, fmt.Errorf("SMEMBERS %s: %w", key, err)
			}
			b.WriteString(strings.Join(ms, "\n"))
		case "zset":
			zs, err := c.ZRangeWithScores(ctx, key, 0, -1).Result()
			if err != nil {
				return out, fmt.Errorf("ZRANGE %s: %w", key, err)
			}
			for _, z := range zs {
				fmt.Fprintf(&b, "%v %v\n", z.Member, z.Score)
			}
		case "list":
			ls, err := c.LRange(ctx, key, 0, -1).Result()
			if err != nil {
				return out, fmt.Errorf("LRANGE %s: %w", key, err)
			}
			b.WriteString(strings.Join(ls, "\n"))
		case "stream":
			xs, err := c.XRange(ctx, key, "-", "+").Result()
			if err != nil {
				return out, fmt.Errorf("XRANGE %s: %w", key, err)
			}
			for _, x := range xs {
				fmt.Fprintf(&b, "%s %v\n", x.ID, x.Values)
			}
		case "none":
			continue // expired between SCAN and TYPE
		default:
			t.Errorf("redistest: key %s has type %s, which Dump cannot read", key, typ)
		}
		out[key] = b.String()
	}
	return out, iter.Err()
}
