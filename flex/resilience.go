package flex

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/sony/gobreaker/v2"
)

// call runs one Twilio call through the circuit breaker and turns its
// failure into an *Error naming op. A call refused by the open breaker fails
// at once with an *Error wrapping ErrCircuitOpen.
func call[T any](ctx context.Context, c *Client, bc *BaseClient, op string, fn func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, &Error{Op: op, Message: err.Error(), Err: err}
	}
	var out T
	_, err := c.breaker.Execute(func() (struct{}, error) {
		bc.forget()
		v, err := fn()
		c.meter.TwilioCall(metricOp(op), bc.lastStatus())
		if err != nil {
			fe := wrapError(op, err, bc.lastStatus(), bc.lastRetryAfter())
			if ctx.Err() != nil {
				// The caller gave up; that says nothing about Twilio.
				return struct{}{}, &excludedError{fe}
			}
			return struct{}{}, fe
		}
		out = v
		return struct{}{}, nil
	})
	if err == nil {
		return out, nil
	}
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return zero, &Error{Op: op, Message: ErrCircuitOpen.Error(), Err: ErrCircuitOpen}
	}
	var ex *excludedError
	if errors.As(err, &ex) {
		return zero, ex.err
	}
	return zero, err
}

// excludedError carries a failure the circuit breaker must not count.
type excludedError struct{ err *Error }

func (e *excludedError) Error() string { return e.err.Error() }

func newBreaker(b Breaker, log *slog.Logger, m Meter) *gobreaker.CircuitBreaker[struct{}] {
	b = b.withDefaults()
	m.BreakerState(gobreaker.StateClosed.String())
	return gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "twilio",
		MaxRequests: 1,
		Timeout:     b.OpenFor,
		ReadyToTrip: func(counts gobreaker.Counts) bool { return counts.ConsecutiveFailures >= b.Failures },
		// Twilio answering 4xx is Twilio working: only temporary failures count.
		IsSuccessful: func(err error) bool {
			var fe *Error
			return err == nil || errors.As(err, &fe) && !fe.Temporary()
		},
		IsExcluded: func(err error) bool {
			var ex *excludedError
			return errors.As(err, &ex)
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			log.Warn("twilio circuit breaker changed state", slog.String("from", from.String()), slog.String("to", to.String()))
			m.BreakerState(to.String())
		},
	})
}

// retryAfterError asks backoff to wait what Twilio's Retry-After said before
// the next attempt, keeping the *Error it came with.
type retryAfterError struct {
	err   *Error
	after *backoff.RetryAfterError
}

func (e *retryAfterError) Error() string   { return e.err.Error() }
func (e *retryAfterError) Unwrap() []error { return []error{e.err, e.after} }

// withRetry runs attempt until it succeeds, fails permanently, or the retry
// budget is spent: temporary failures (429, 5xx, timeouts) are retried with
// exponential backoff and jitter, or after Twilio's Retry-After. A refused
// call (open circuit breaker) is not retried: it fails fast. The error
// returned is the last attempt's *Error.
func withRetry[T any](ctx context.Context, c *Client, op string, attempt func() (T, error)) (T, error) {
	r := c.retry
	var last error
	var twilioErr *Error // the last failure Twilio answered (with a status)
	b := &backoff.ExponentialBackOff{
		InitialInterval:     r.Initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         r.Max,
	}
	res, err := backoff.Retry(ctx, func() (T, error) {
		v, err := attempt()
		if err == nil {
			return v, nil
		}
		last = err
		var fe *Error
		if errors.As(err, &fe) && fe.Status != 0 {
			twilioErr = fe
		}
		if !errors.As(err, &fe) || !fe.Temporary() || errors.Is(err, ErrCircuitOpen) {
			return v, backoff.Permanent(err)
		}
		if fe.RetryAfter > 0 {
			return v, &retryAfterError{err: fe, after: &backoff.RetryAfterError{Duration: fe.RetryAfter}}
		}
		return v, err
	},
		backoff.WithBackOff(b),
		backoff.WithMaxTries(uint(r.MaxAttempts)),
		backoff.WithMaxElapsedTime(r.Total),
		backoff.WithNotify(func(err error, wait time.Duration) {
			var fe *Error
			c.meter.TwilioRetry(metricOp(op))
			if errors.As(err, &fe) {
				c.log.WarnContext(ctx, "twilio call failed; retrying", slog.String("op", fe.Op),
					slog.Int("status", fe.Status), slog.Int("code", fe.Code), slog.Duration("wait", wait))
			}
		}),
	)
	if err == nil {
		return res, nil
	}
	var fe *Error
	if errors.As(err, &fe) {
		// The breaker opened, or the time ran out, after Twilio answered:
		// Twilio's answer says more.
		if fe.Status == 0 && twilioErr != nil {
			return res, twilioErr
		}
		return res, fe
	}
	// The context ended between attempts: the last failure says more.
	if twilioErr != nil {
		return res, twilioErr
	}
	if last != nil {
		return res, last
	}
	return res, &Error{Op: op, Message: err.Error(), Err: err}
}

// keyedLocks serialises work per key (here: per customer identity) within
// one process; waiting for a lock ends with the context.
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

// lock locks key and returns its unlock function.
func (k *keyedLocks) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyLock{}
	}
	l := k.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		k.locks[key] = l
	}
	l.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
