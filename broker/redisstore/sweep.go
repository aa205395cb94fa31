package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
)

// The broker's sweep reads two sorted sets of session IDs, scored by the session's ExpiresAt
// in Unix microseconds: prefix:{b}:sw:due holds the sessions that still wait (can expire),
// prefix:{b}:sw:chat the verified ones (wait for their chat). CreateSession and Transition keep
// them in the scripts that write the session. A session whose key expired (its retention
// passed while no replica swept) is pruned from them by the sweep's own reads.
func (k keys) sweepDue() string  { return k.b + "sw:due" }
func (k keys) sweepChat() string { return k.b + "sw:chat" }

// sweepScores returns a session's scores in the two sets, "" where it is not a member.
func sweepScores(s *broker.Session) (due, chat string) {
	score := strconv.FormatInt(s.ExpiresAt.UnixMicro(), 10)
	if s.ExpiresAt.IsZero() {
		score = "0"
	}
	if !s.Status.Terminal() && s.Status != broker.StatusBound && !s.ExpiresAt.IsZero() {
		due = score
	}
	if s.Status == broker.StatusVerified {
		chat = score
	}
	return due, chat
}

// luaSweep puts session sid in the sweep sets its scores name (and takes it out of the others):
// sweep(prefix, sid, dueScore, chatScore).
const luaSweep = `
local function sweep(prefix, sid, due, chat)
  if due == '' then redis.call('ZREM', prefix .. 'sw:due', sid) else redis.call('ZADD', prefix .. 'sw:due', due, sid) end
  if chat == '' then redis.call('ZREM', prefix .. 'sw:chat', sid) else redis.call('ZADD', prefix .. 'sw:chat', chat, sid) end
end
`

// scriptSweepRead reads up to ARGV[3] members of a sweep set with a score up to ARGV[2],
// lowest first, dropping those whose session key is gone.
//
//	KEYS: the sweep set
//	ARGV: 1 session key prefix, 2 maximum score ("+inf" for all), 3 limit
var scriptSweepRead = redis.NewScript(`
local out, limit = {}, tonumber(ARGV[3])
while #out < limit do
  local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[2], 'BYSCORE', 'LIMIT', #out, limit - #out)
  if #ids == 0 then break end
  local gone = false
  for _, id in ipairs(ids) do
    if redis.call('EXISTS', ARGV[1] .. id) == 1 then
      out[#out + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)
      gone = true
    end
  end
  if not gone then break end
end
return out
`)

// SessionsDue returns the IDs of up to limit sessions that still wait and whose ExpiresAt is
// not after now (to the microsecond), earliest first. One round trip.
func (s *Store) SessionsDue(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.sweepRead(ctx, "sessions due", s.keys.sweepDue(), strconv.FormatInt(now.UnixMicro(), 10), limit)
}

// SessionsAwaitingChat returns the IDs of up to limit verified sessions, earliest ExpiresAt
// first. One round trip.
func (s *Store) SessionsAwaitingChat(ctx context.Context, limit int) ([]string, error) {
	return s.sweepRead(ctx, "sessions awaiting a chat", s.keys.sweepChat(), "+inf", limit)
}

func (s *Store) sweepRead(ctx context.Context, what, key, max string, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("redisstore: %s: limit %d is not positive", what, limit)
	}
	ids, err := scriptSweepRead.Run(ctx, s.client, []string{key}, s.keys.sessionPrefix(), max, limit).StringSlice()
	if err != nil {
		return nil, s.errf(err, "%s", what)
	}
	return ids, nil
}
