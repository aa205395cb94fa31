package redisstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Meter receives the store's measurements: one per Redis command or pipeline. It is declared
// here so that the store does not know which monitoring system counts them (api/admin adapts
// it to Prometheus). op is the command's name (get, evalsha, …) or "pipeline", never a key.
// result is ok, not_found (a nil reply), conflict (a watched key changed), noscript (the script cache was empty; the command is
// sent again with its script) or error. Implementations must be safe for concurrent use and
// must not block.
type Meter interface {
	StoreOperation(op, result string, took time.Duration)
}

// Results of a store operation, as Meter.StoreOperation is told them.
const (
	ResultOK       = "ok"
	ResultNotFound = "not_found"
	ResultNoScript = "noscript"
	ResultConflict = "conflict"
	ResultError    = "error"
)

// Measure makes every command the store sends from now on report to m. Call it once, right
// after Open, before the store is used.
func (s *Store) Measure(m Meter) {
	if m != nil {
		s.client.AddHook(meterHook{m})
	}
}

// meterHook is a go-redis hook that times every command and pipeline.
type meterHook struct{ m Meter }

func (h meterHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h meterHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.m.StoreOperation(strings.ToLower(cmd.Name()), result(err), time.Since(start))
		return err
	}
}

func (h meterHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.m.StoreOperation("pipeline", result(err), time.Since(start))
		return err
	}
}

func result(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, redis.Nil):
		return ResultNotFound
	case errors.Is(err, redis.TxFailedErr):
		return ResultConflict
	case strings.HasPrefix(err.Error(), "NOSCRIPT"):
		return ResultNoScript
	}
	return ResultError
}
