package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hearro/trustbroker/broker"
)

// scriptLinkChat adds a session to a chat's set and keeps the set at least until the given
// instant: KEYS[1] the set, ARGV[1] session ID, ARGV[2] expiry (Unix ms).
var scriptLinkChat = redis.NewScript(`
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = redis.call('PEXPIRETIME', KEYS[1])
if ttl < 0 or ttl < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1`)

// scriptChatSessions returns the records of a chat's sessions that still exist: KEYS[1] the set,
// ARGV[1] the session key prefix.
var scriptChatSessions = redis.NewScript(`
local out = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local rec = redis.call('GET', ARGV[1] .. sid)
  if rec then out[#out + 1] = rec end
end
return out`)

func (k keys) chat(sid string) string { return k.b + "sc:" + sid }

// LinkChat records that sessionID is bound to chatSID; the link set lives at least until
// until (the latest session's retention). One round trip.
func (s *Store) LinkChat(ctx context.Context, chatSID, sessionID string, until time.Time) error {
	if chatSID == "" || sessionID == "" {
		return errors.New("redisstore: link chat: empty chat or session ID")
	}
	exp := until.Add(s.retention).UnixMilli()
	if err := scriptLinkChat.Run(ctx, s.client, []string{s.keys.chat(chatSID)}, sessionID, exp).Err(); err != nil {
		return s.errf(err, "link chat %q", chatSID)
	}
	return nil
}

// SessionsByChat returns the sessions linked to chatSID whose chat it is. One round trip.
func (s *Store) SessionsByChat(ctx context.Context, chatSID string) ([]*broker.Session, error) {
	res, err := scriptChatSessions.Run(ctx, s.client, []string{s.keys.chat(chatSID)}, s.keys.sessionPrefix()).StringSlice()
	if err != nil {
		return nil, s.errf(err, "sessions of chat %q", chatSID)
	}
	var out []*broker.Session
	for _, rec := range res {
		sess, err := decodeSession([]byte(rec))
		if err != nil {
			return nil, fmt.Errorf("redisstore: sessions of chat %q: %w", chatSID, err)
		}
		if sess.Chat != nil && sess.Chat.ConversationSID == chatSID {
			out = append(out, sess)
		}
	}
	return out, nil
}
