package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"
)

// Limiter decides whether one more request for key is allowed now; if not, retryAfter says
// when to try again. Implementations are safe for concurrent use.
type Limiter interface {
	Allow(ctx context.Context, key string) (allowed bool, retryAfter time.Duration, err error)
}

// LocalLimiter is a token-bucket limiter per key held in this process (the single-node
// default; replicas share a Redis-backed limiter). It remembers at most maxKeys keys,
// forgetting the least recently used.
type LocalLimiter struct {
	perSecond rate.Limit
	burst     int
	maxKeys   int

	mu   sync.Mutex
	keys map[string]*lruEntry
	head *lruEntry // most recently used
	tail *lruEntry
}

type lruEntry struct {
	key        string
	limiter    *rate.Limiter
	prev, next *lruEntry
}

// NewLocalLimiter allows perMinute requests per minute per key, in bursts of up to burst.
func NewLocalLimiter(perMinute, burst, maxKeys int) *LocalLimiter {
	if maxKeys <= 0 {
		maxKeys = 100_000
	}
	return &LocalLimiter{perSecond: rate.Limit(float64(perMinute) / 60), burst: burst, maxKeys: maxKeys, keys: map[string]*lruEntry{}}
}

// Allow takes one token from key's bucket.
func (l *LocalLimiter) Allow(_ context.Context, key string) (bool, time.Duration, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys[key]
	if ok {
		l.unlink(e)
	} else {
		e = &lruEntry{key: key, limiter: rate.NewLimiter(l.perSecond, l.burst)}
		l.keys[key] = e
		if len(l.keys) > l.maxKeys {
			old := l.tail
			l.unlink(old)
			delete(l.keys, old.key)
		}
	}
	l.pushFront(e)
	r := e.limiter.Reserve()
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d, nil
	}
	return true, 0, nil
}

func (l *LocalLimiter) unlink(e *lruEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if l.head == e {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if l.tail == e {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (l *LocalLimiter) pushFront(e *lruEntry) {
	e.next = l.head
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
}

// limitSessions limits session creation per CRM client (when the request carries a valid
// token) and per client IP.
func (s *server) limitSessions(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.cfg.SessionLimiter == nil {
			return next(c)
		}
		key := "ip:" + c.RealIP()
		if _, hasToken := c.Request().Header[echo.HeaderAuthorization]; hasToken {
			if p, err := s.principal(c); err == nil {
				key = "client:" + p.Subject
			}
		}
		ok, retry, err := s.cfg.SessionLimiter.Allow(c.Request().Context(), key)
		if err != nil {
			return fmt.Errorf("rate limiter: %w", err)
		}
		if !ok {
			s.metrics().RateLimited(s.route(c))
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retry.Seconds()))))
			return problem(http.StatusTooManyRequests, "rate_limited", "too many sessions started; retry later")
		}
		return next(c)
	}
}
