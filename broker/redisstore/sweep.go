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

// sweepChanges returns what a write must do to the sweep sets when a session goes from cur
// (nil: new) to next: each set's new score, "" to leave it, or unchanged when it stays as it
// is (most transitions), which saves the script the sorted-set calls.
func sweepChanges(cur, next *broker.Session) (due, chat string) {
	due, chat = sweepScores(next)
	if cur != nil {
		oldDue, oldChat := sweepScores(cur)
		if oldDue == due {
			due = unchanged
		}
		if oldChat == chat {
			chat = unchanged
		}
	}
	return due, chat
}

// unchanged tells luaSweep to leave a set as it is.
const unchanged = "="

// luaSweep puts session sid in the sweep sets with the scores given, takes it out of those
// whose score is "", and leaves those whose score is "=": sweep(prefix, sid, due, chat).
const luaSweep = `
local function sweepSet(key, sid, score)
  if score == '=' then return end
  if score == '' then redis.call('ZREM', key, sid) else redis.call('ZADD', key, score, sid) end
end
local function sweep(prefix, sid, due, chat)
  sweepSet(prefix .. 'sw:due', sid, due)
  sweepSet(prefix .. 'sw:chat', sid, chat)
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
