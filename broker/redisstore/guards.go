package redisstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// ReplayGuard remembers used presentation challenges in Redis, for every replica at once: it
// implements identity.ReplayGuard with SET NX and an expiry, so exactly one caller, on any
// replica, gets a key first. Safe for concurrent use.
type ReplayGuard struct{ s *Store }

// NewReplayGuard returns the guard over s's Redis.
func NewReplayGuard(s *Store) *ReplayGuard { return &ReplayGuard{s: s} }

// Use marks key used until the given time; it reports false if key was used already.
func (g *ReplayGuard) Use(ctx context.Context, key string, until time.Time) (bool, error) {
	ok, err := g.s.client.SetArgs(ctx, g.s.keys.b+"replay:"+key, 1, redis.SetArgs{Mode: "NX", ExpireAt: until}).Result()
	if err == redis.Nil {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("redisstore: replay guard: %w", g.s.classify(err))
	}
	return ok == "OK", nil
}

// Release forgets key: the next Use of it succeeds.
func (g *ReplayGuard) Release(ctx context.Context, key string) error {
	if err := g.s.client.Del(ctx, g.s.keys.b+"replay:"+key).Err(); err != nil {
		return fmt.Errorf("redisstore: replay guard: %w", g.s.classify(err))
	}
	return nil
}

// Limiter is a rate limiter shared by every replica: GCRA in Redis (go-redis/redis_rate), one
// bucket per key. It has the shape of the API's limiter. Safe for concurrent use.
type Limiter struct {
	s     *Store
	rl    *redis_rate.Limiter
	limit redis_rate.Limit
}

// NewLimiter allows perMinute requests per minute per key, in bursts of up to burst.
func NewLimiter(s *Store, perMinute, burst int) *Limiter {
	return &Limiter{s: s, rl: redis_rate.NewLimiter(s.client), limit: redis_rate.Limit{Rate: perMinute, Burst: burst, Period: time.Minute}}
}

// Allow takes one request from key's budget.
func (l *Limiter) Allow(ctx context.Context, key string) (bool, time.Duration, error) {
	res, err := l.rl.Allow(ctx, l.s.keys.prefix+":rate:"+key, l.limit)
	if err != nil {
		return false, 0, fmt.Errorf("redisstore: rate limit: %w", l.s.classify(err))
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, time.Duration(math.Max(float64(res.RetryAfter), float64(time.Second))), nil
}
