package redisstore

import (
	"github.com/redis/go-redis/v9"
)

// The store's Lua scripts. Each one runs atomically on the primary of its first key's slot.
// Besides their declared keys, some read or write keys they derive from an argument prefix;
// those share the declared keys' hash tag (see the package comment), so they are in the same
// slot. Write scripts answer with a status word (statusOK or a reason); they check everything
// before they write anything, so a refusal writes nothing.
var (
	allScripts = []*redis.Script{
		scriptCreateSession, scriptVia, scriptSweepRead, scriptTransitionRead, scriptTransitionWrite,
		scriptIdentityRead, scriptDeleteIdentity, scriptListIdentities,
		scriptLease, scriptDone, scriptRetry, scriptBury, scriptDeadLetters,
		scriptAgentOpen, scriptAgentSetConfig, scriptAgentWrite, scriptAgentQuery, scriptSwap,
	}
)

// Status words of the write scripts.
const (
	statusOK         = "OK"
	statusStale      = "STALE"      // what the caller read has changed since: read again
	statusNotFound   = "NOTFOUND"   // the record is gone
	statusSession    = "SESSION"    // the session ID is taken
	statusInvitation = "INVITATION" // the invitation ID belongs to another session
	statusThread     = "THREAD"     // the thread ID belongs to another session
	statusIdentityID = "IDENTITY"   // a new identity's ID belongs to another identity
	statusDelivery   = "DELIVERY"   // a delivery's ID is queued or dead already
	statusLeaseLost  = "LEASE"      // the delivery's lease is not the caller's any more
)

// scriptCreateSession stores a new session, its index entries and its sweep set memberships.
//
//	KEYS: session, invitation index, thread index
//	ARGV: record, expiry (Unix ms, "0" for none), session ID, invitation ID, thread ID,
//	      the broker's key prefix (prefix:{b}:), due and chat sweep scores ("" for none;
//	      see luaSweep)
var scriptCreateSession = redis.NewScript(luaSweep + `
if redis.call('EXISTS', KEYS[1]) == 1 then return 'SESSION' end
if ARGV[4] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then return 'INVITATION' end
if ARGV[5] ~= '' and redis.call('EXISTS', KEYS[3]) == 1 then return 'THREAD' end
local function put(key, val)
  if ARGV[2] == '0' then redis.call('SET', key, val) else redis.call('SET', key, val, 'PXAT', ARGV[2]) end
end
put(KEYS[1], ARGV[1])
if ARGV[4] ~= '' then put(KEYS[2], ARGV[3]) end
if ARGV[5] ~= '' then put(KEYS[3], ARGV[3]) end
sweep(ARGV[6], ARGV[3], ARGV[7], ARGV[8])
return 'OK'
`)

// scriptVia follows an index entry to its record.
//
//	KEYS: index entry
//	ARGV: key prefix of the records
//	→ {record ID, record}, or nil
var scriptVia = redis.NewScript(`
local id = redis.call('GET', KEYS[1])
if not id then return false end
local rec = redis.call('GET', ARGV[1] .. id)
if not rec then return false end
return {id, rec}
`)

// scriptTransitionRead reads what a transition decides on: the session and, if the transition
// stores an identity, the identity that has its flex identity (if any), with which of the
// sessions that verified that identity still exist.
//
//	KEYS: session[, flex index]
//	ARGV: key prefix of identities, key prefix of sessions
//	→ {session[, identity ID, identity record, "1" or "0" per session of the identity]}, or
//	  nil without session
var scriptTransitionRead = redis.NewScript(luaFields + `
local s = redis.call('GET', KEYS[1])
if not s then return false end
if #KEYS < 2 then return {s} end
local id = redis.call('GET', KEYS[2])
if not id then return {s} end
local rec = redis.call('GET', ARGV[1] .. id)
if not rec then return {s, id, ''} end
local live = ''
for _, sid in ipairs(fields(rec)) do
  live = live .. redis.call('EXISTS', ARGV[2] .. sid)
end
return {s, id, rec, live}
`)

// luaFields returns the fields of the list at the head of a record (see appendList in
// codec.go): the sessions of an identity record; the name and value of each tag, in turn, of
// an agent record.
const luaFields = `
local function fields(rec)
  local out = {}
  local colon = string.find(rec, ':', 2, true)
  local len = tonumber(string.sub(rec, 2, colon - 1))
  local pos, stop = colon + 1, colon + len
  while pos <= stop do
    local c = string.find(rec, ':', pos, true)
    local n = tonumber(string.sub(rec, pos, c - 1))
    out[#out + 1] = string.sub(rec, c + 1, c + n)
    pos = c + n + 1
  end
  return out
end
`

// scriptTransitionWrite writes a transition if nothing it was decided on has changed: the
// session's header (its version), and the flex identity's index entry and identity record.
//
// It also queues the transition's deliveries (see luaQueue), refusing them all, and the
// transition, if one's ID is queued or dead already.
//
//	KEYS: 1 session, 2 old invitation index, 3 new invitation index, 4 old thread index,
//	      5 new thread index, 6 flex index, 7 identity, 8 all identity IDs,
//	      9… the indexes to take the identity out of (ARGV[13] of them), then those to put it
//	      in (ARGV[14]) (see luaIndex), then the outbox keys (luaQueue)
//	ARGV: 1 session header read, 2 new session record, 3 expiry (Unix ms, "0" for none),
//	      4 session ID, 5 old invitation ID, 6 new invitation ID, 7 old thread ID,
//	      8 new thread ID, 9 identity mode ("" none, "new", "update"), 10 identity ID,
//	      11 identity record read (update), 12 new identity record, 13, 14 index counts,
//	      15 the broker's key prefix (prefix:{b}:), 16, 17 the session's due and chat sweep
//	      scores ("" for none, "=" unchanged: see luaSweep), then per index its member prefix and legacy key (luaIndex),
//	      then the deliveries (luaQueue)
var scriptTransitionWrite = redis.NewScript(luaQueue + luaIndex + luaSweep + `
local cur = redis.call('GET', KEYS[1])
if not cur then return 'NOTFOUND' end
if string.sub(cur, 1, string.len(ARGV[1])) ~= ARGV[1] then return 'STALE' end
local sid = ARGV[4]
if ARGV[6] ~= '' and ARGV[6] ~= ARGV[5] then
  local owner = redis.call('GET', KEYS[3])
  if owner and owner ~= sid then return 'INVITATION' end
end
if ARGV[8] ~= '' and ARGV[8] ~= ARGV[7] then
  local owner = redis.call('GET', KEYS[5])
  if owner and owner ~= sid then return 'THREAD' end
end
local mode = ARGV[9]
if mode == 'new' then
  if redis.call('EXISTS', KEYS[6]) == 1 then return 'STALE' end
  if redis.call('EXISTS', KEYS[7]) == 1 then return 'IDENTITY' end
elseif mode == 'update' then
  if redis.call('GET', KEYS[6]) ~= ARGV[10] then return 'STALE' end
  if redis.call('GET', KEYS[7]) ~= ARGV[11] then return 'STALE' end
end
local nOld, nNew = tonumber(ARGV[13]), tonumber(ARGV[14])
local outboxKeys, outboxArgs = 9 + nOld + nNew, 18 + 2 * (nOld + nNew)
if not queueable(outboxKeys, outboxArgs) then return 'DELIVERY' end
local function put(key, val)
  if ARGV[3] == '0' then redis.call('SET', key, val) else redis.call('SET', key, val, 'PXAT', ARGV[3]) end
end
if ARGV[5] ~= '' and ARGV[5] ~= ARGV[6] and redis.call('GET', KEYS[2]) == sid then redis.call('DEL', KEYS[2]) end
if ARGV[7] ~= '' and ARGV[7] ~= ARGV[8] and redis.call('GET', KEYS[4]) == sid then redis.call('DEL', KEYS[4]) end
put(KEYS[1], ARGV[2])
if ARGV[6] ~= '' then put(KEYS[3], sid) end
if ARGV[8] ~= '' then put(KEYS[5], sid) end
sweep(ARGV[15], sid, ARGV[16], ARGV[17])
if mode ~= '' then
  local id = ARGV[10]
  redis.call('SET', KEYS[7], ARGV[12])
  redis.call('SET', KEYS[6], id)
  ixPrefix = ARGV[15]
  for i = 1, nOld + nNew do
    local a = 16 + 2 * i
    local n, p = ixOpen(KEYS[8 + i], ARGV[a], ARGV[a + 1], true)
    if i <= nOld then ixRem(n, p .. id) else ixAdd(n, p .. id) end
  end
  ixAdd(KEYS[8], id)
end
queue(outboxKeys, outboxArgs)
return 'OK'
`)

// luaQueue queues deliveries for the write scripts: queueable(k, a) checks that none of them is
// queued or dead already, queue(k, a) writes them. KEYS[k] is the due index, followed by each
// delivery's record, dead-letter record and subject set (its record again without subject);
// ARGV[a] is the number of deliveries, followed by each one's fields j, p, a, n, e, its member
// m of the due index, its score and its subject s ("" for none) (see outbox.go).
const luaQueue = `
local function queueable(k, a)
  for i = 0, tonumber(ARGV[a]) - 1 do
    if redis.call('EXISTS', KEYS[k + 1 + 3 * i], KEYS[k + 2 + 3 * i]) > 0 then return false end
  end
  return true
end
local function queue(k, a)
  for i = 0, tonumber(ARGV[a]) - 1 do
    local f = a + 1 + 8 * i
    local rec = KEYS[k + 1 + 3 * i]
    redis.call('HSET', rec, 'j', ARGV[f], 'p', ARGV[f + 1], 'a', ARGV[f + 2],
      'n', ARGV[f + 3], 'e', ARGV[f + 4], 'm', ARGV[f + 5])
    redis.call('ZADD', KEYS[k], ARGV[f + 6], ARGV[f + 5])
    if ARGV[f + 7] ~= '' then
      redis.call('HSET', rec, 's', ARGV[f + 7])
      redis.call('SADD', KEYS[k + 3 + 3 * i], string.sub(ARGV[f + 5], 7))
    end
  end
end
`

// scriptIdentityRead reads what erasing an identity decides on: its record and the sessions
// that verified it.
//
//	KEYS: identity
//	ARGV: key prefix of sessions
//	→ {identity record, session ID, session record or nil, …}, or nil without identity
var scriptIdentityRead = redis.NewScript(luaFields + `
local rec = redis.call('GET', KEYS[1])
if not rec then return false end
local out = {rec}
for _, sid in ipairs(fields(rec)) do
  out[#out + 1] = sid
  out[#out + 1] = redis.call('GET', ARGV[1] .. sid)
end
return out
`)

// scriptDeleteIdentity erases an identity and rewrites the sessions that verified it, if the
// identity record (which lists those sessions) and each session's header are still what the
// caller read; removes the deliveries about it, queued or dead, that its subject set lists
// (each one whose s is still the identity's ID), and the set; and queues the erasure's
// deliveries (see luaQueue), after the removal, so that they are kept whatever their subject.
// A delivery to queue whose ID is queued or dead before the erasure refuses the whole erasure.
//
//	KEYS: 1 identity, 2 flex index, 3 all identity IDs, 4 the identity's subject set, 5 the due
//	      index, 6 the dead-letter index, 7… the sessions to rewrite (ARGV[3] of them), then the
//	      identity's indexes (ARGV[4] of them; see luaIndex), then the outbox keys (luaQueue)
//	ARGV: 1 identity record read, 2 identity ID, 3 number of sessions to rewrite, 4 number of
//	      indexes, 5 key prefix of queued deliveries, 6 key prefix of dead letters, 7 the
//	      broker's key prefix (prefix:{b}:), then per session: header read, new record, expiry
//	      (Unix ms, "0" for none), then per index its member prefix and legacy key (luaIndex),
//	      then the deliveries (luaQueue); then, for an erasure record (EraseIdentity), one
//	      more key (the record's) and two more arguments (the record, its expiry in Unix ms)
var scriptDeleteIdentity = redis.NewScript(luaQueue + luaIndex + `
local cur = redis.call('GET', KEYS[1])
if not cur then return 'NOTFOUND' end
if cur ~= ARGV[1] then return 'STALE' end
local id = ARGV[2]
local n, m = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, n do
  local s = redis.call('GET', KEYS[6 + i])
  local header = ARGV[5 + 3 * i]
  if s and string.sub(s, 1, string.len(header)) ~= header then return 'STALE' end
end
local outboxKeys, outboxArgs = 7 + n + m, 8 + 3 * n + 2 * m
if not queueable(outboxKeys, outboxArgs) then return 'DELIVERY' end
for i = 1, n do
  if redis.call('EXISTS', KEYS[6 + i]) == 1 then
    local exp = ARGV[7 + 3 * i]
    if exp == '0' then redis.call('SET', KEYS[6 + i], ARGV[6 + 3 * i])
    else redis.call('SET', KEYS[6 + i], ARGV[6 + 3 * i], 'PXAT', exp) end
  end
end
redis.call('DEL', KEYS[1])
if redis.call('GET', KEYS[2]) == id then redis.call('DEL', KEYS[2]) end
ixPrefix = ARGV[7]
ixRem(KEYS[3], id)
for i = 1, m do
  local a = 6 + 3 * n + 2 * i
  local ix, p = ixOpen(KEYS[6 + n + i], ARGV[a], ARGV[a + 1], true)
  ixRem(ix, p .. id)
end
for _, did in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local q = ARGV[5] .. did
  local rec = redis.call('HMGET', q, 's', 'm')
  if rec[1] == id then
    if rec[2] then redis.call('ZREM', KEYS[5], rec[2]) end
    redis.call('DEL', q)
  end
  local x = ARGV[6] .. did
  if redis.call('HGET', x, 's') == id then
    redis.call('DEL', x)
    redis.call('ZREM', KEYS[6], did)
  end
end
redis.call('DEL', KEYS[4])
queue(outboxKeys, outboxArgs)
if #ARGV > outboxArgs + 8 * tonumber(ARGV[outboxArgs]) then
  redis.call('SET', KEYS[#KEYS], ARGV[#ARGV - 1], 'PXAT', ARGV[#ARGV])
end
return 'OK'
`)

// scriptListIdentities walks, in ID order from just after a cursor, the smallest of the given
// indexes of identity IDs (see luaIndex), keeps the IDs that are in all of them, and returns
// them with their records. It stops after want matches or after looking at budget IDs, so
// that one call never blocks Redis for long.
//
//	KEYS: the indexes' base keys (at least one)
//	ARGV: 1 cursor ("" for the start), 2 want, 3 budget, 4 key prefix of identities, 5 the
//	      broker's key prefix (prefix:{b}:), then per index its member prefix and legacy key
//	→ {last ID looked at ("" if none), "1" if the walk reached the end else "0", ID, record, …}
var scriptListIdentities = redis.NewScript(luaIndex + `
ixPrefix = ARGV[5]
local ix, px = {}, {}
local best, bestN = 1, -1
for i = 1, #KEYS do
  ix[i], px[i] = ixOpen(KEYS[i], ARGV[4 + 2 * i], ARGV[5 + 2 * i], false)
  local n = ixCount(ix[i], px[i])
  if bestN < 0 or n < bestN then best, bestN = i, n end
end
local last = ARGV[1]
local want, budget = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {'', '0'}
local found, seen = 0, 0
local ended = false
while found < want and seen < budget do
  local chunk = math.min(budget - seen, 128)
  local ids = ixRange(ix[best], px[best], last, chunk)
  local stopped = false
  for _, id in ipairs(ids) do
    seen = seen + 1
    last = id
    local all = true
    for i = 1, #KEYS do
      if i ~= best and not ixHas(ix[i], px[i] .. id) then all = false break end
    end
    if all then
      local rec = redis.call('GET', ARGV[4] .. id)
      if rec then
        out[#out + 1] = id
        out[#out + 1] = rec
        found = found + 1
        if found >= want then stopped = true break end
      end
    end
  end
  if not stopped and #ids < chunk then ended = true break end
end
out[1] = last
if ended then out[2] = '1' end
return out
`)

// luaIndex keeps the identity indexes: ordered sets of members (all scores 0) stored as sorted
// sets of at most 128 members each ("chunks"), so that every chunk stays a listpack — about 32
// bytes a member, where one sorted set of thousands costs about 120 (a skiplist node, a hash
// table entry and the member's own allocation each). An index has a base key; its first chunk
// is the base key itself, each other chunk is prefix:{b}:ixp:<len>:<s><bound>, where s is the
// base key without prefix:{b}:, <len> its length and bound the chunk's least member; the
// bounds are listed in the directory prefix:{b}:ixd:<s>. A member belongs to the chunk with
// the greatest bound not above it. A full chunk splits in halves or, when the new member is
// above all of it (IDs are ULIDs: they mostly grow), a new chunk starts with it; a chunk that
// empties is deleted, and one whose least member leaves is renamed after the new least, so
// that no member outlives its removal in a key name or the directory. An index that has never
// outgrown one chunk is exactly the sorted set it was before chunking, and a large sorted set
// an earlier version wrote is the first chunk of its index until the next insert into it
// splits it in full chunks (in one script: a one-time cost linear in its size).
//
// The indexes of one claim name share a base key, prefix:{b}:ixc:<len>:<name>: their members
// are the text value's length in decimal, ":", the text (the index's member prefix), then the
// ID — one set per claim name rather than a key per value. Earlier versions kept one sorted
// set of IDs per claim value (its legacy key prefix:{b}:ix:c:<len>:<name><text>): while that
// exists it is the index (ixOpen), and the first write to the index moves its IDs into the
// claim's set and deletes it.
//
// Member order is Redis's (bytes, as ZRANGEBYLEX), never Lua's string comparison, which follows
// the server's locale. The functions take an index's base key and whole members.
const luaIndex = `
local ixPrefix = ''
local IXMAX, IXHALF = 128, 64
local function ixSuffix(n) return string.sub(n, #ixPrefix + 1) end
local function ixDir(n) return ixPrefix .. 'ixd:' .. ixSuffix(n) end
local function ixChunk(n, bound)
  if bound == '' then return n end
  local s = ixSuffix(n)
  return ixPrefix .. 'ixp:' .. #s .. ':' .. s .. bound
end
local function ixBound(n, m)
  return redis.call('ZREVRANGEBYLEX', ixDir(n), '[' .. m, '-', 'LIMIT', 0, 1)[1] or ''
end
local function ixHas(n, m)
  return redis.call('ZSCORE', ixChunk(n, ixBound(n, m)), m) ~= false
end
-- ixSplit splits a full chunk in halves, or one larger than a chunk (written by an earlier
-- version) in full chunks.
local function ixSplit(n, c)
  local all = redis.call('ZRANGE', c, 0, -1)
  local size = IXHALF
  if #all > IXMAX then size = IXMAX end
  redis.call('DEL', c)
  for i = 1, #all, size do
    local key = c
    if i > 1 then
      key = ixChunk(n, all[i])
      redis.call('ZADD', ixDir(n), 0, all[i])
    end
    local args = {}
    for j = i, math.min(i + size - 1, #all) do
      args[#args + 1] = 0
      args[#args + 1] = all[j]
    end
    redis.call('ZADD', key, unpack(args))
  end
end
local function ixAdd(n, m)
  local c = ixChunk(n, ixBound(n, m))
  if redis.call('ZSCORE', c, m) then return end
  local size = redis.call('ZCARD', c)
  if size >= IXMAX then
    if size == IXMAX and #redis.call('ZRANGEBYLEX', c, '(' .. m, '+', 'LIMIT', 0, 1) == 0 then
      redis.call('ZADD', ixChunk(n, m), 0, m)
      redis.call('ZADD', ixDir(n), 0, m)
      return
    end
    ixSplit(n, c)
    c = ixChunk(n, ixBound(n, m))
  end
  redis.call('ZADD', c, 0, m)
end
local function ixRem(n, m)
  local bound = ixBound(n, m)
  local c = ixChunk(n, bound)
  if redis.call('ZREM', c, m) == 0 or bound ~= m then return end
  local dir = ixDir(n)
  redis.call('ZREM', dir, m)
  local least = redis.call('ZRANGE', c, 0, 0)[1]
  if least then
    redis.call('RENAME', c, ixChunk(n, least))
    redis.call('ZADD', dir, 0, least)
  end
end
-- ixOpen returns the base key and member prefix of an index: its legacy key, if given and
-- present, with no prefix; else n and p. For a write (move), it first moves the legacy key's
-- IDs into n and deletes it.
local function ixOpen(n, p, legacy, move)
  if legacy == '' or redis.call('EXISTS', legacy) == 0 then return n, p end
  if not move then return legacy, '' end
  for _, id in ipairs(redis.call('ZRANGE', legacy, 0, -1)) do ixAdd(n, p .. id) end
  redis.call('DEL', legacy)
  return n, p
end
-- ixSpan returns the ZRANGEBYLEX bounds of the strings that start with p.
local function ixSpan(p)
  local i = #p
  while i > 0 and string.byte(p, i) == 255 do i = i - 1 end
  if i == 0 then
    if p == '' then return '-', '+' end
    return '[' .. p, '+'
  end
  local above = string.sub(p, 1, i - 1) .. string.char(string.byte(p, i) + 1)
  return '[' .. p, '(' .. above
end
-- ixCount returns the number of members that start with p: exact within one chunk, else an
-- estimate (it only chooses which index to walk).
local function ixCount(n, p)
  local lo, hi = ixSpan(p)
  local chunks = redis.call('ZLEXCOUNT', ixDir(n), lo, hi)
  if chunks > 0 then return (chunks + 1) * IXHALF end
  return redis.call('ZLEXCOUNT', ixChunk(n, ixBound(n, p)), lo, hi)
end
-- ixRange returns, in order and without p, up to k members that start with p and are above
-- p .. after (all of them if after is '').
local function ixRange(n, p, after, k)
  local lo, hi = ixSpan(p)
  if after ~= '' then lo = '(' .. p .. after end
  local bound = ixBound(n, p .. after)
  local dir, out = ixDir(n), {}
  while true do
    for _, m in ipairs(redis.call('ZRANGEBYLEX', ixChunk(n, bound), lo, hi, 'LIMIT', 0, k - #out)) do
      out[#out + 1] = string.sub(m, #p + 1)
    end
    if #out >= k then break end
    local from = '-'
    if bound ~= '' then from = '(' .. bound end
    bound = redis.call('ZRANGEBYLEX', dir, from, hi, 'LIMIT', 0, 1)[1]
    if not bound then break end
  end
  return out
end
`

// scriptLease leases due deliveries: it takes up to n members of the due index whose due time
// (score: Unix ms, then the member's first six digits: the nanoseconds within the
// millisecond) is not after now, in (due time, ID) order, moves each to the end of the lease
// and returns the records. Run atomically, it hands a delivery to one caller per lease.
//
//	KEYS: due index
//	ARGV: 1 now (Unix ms), 2 now (ns within the ms), 3 n, 4 end of the lease (Unix ms),
//	      5 end of the lease (ns within the ms, six digits), 6 key prefix of queued deliveries
//	→ {ID, j, p, a, n, e, …}
var scriptLease = redis.NewScript(luaDelivery + `
local nowMs, nowNs = tonumber(ARGV[1]), tonumber(ARGV[2])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for i = 1, #due, 2 do
  local m = due[i]
  -- Members of now's millisecond sort by their nanoseconds: the first one after now ends
  -- the due ones.
  if tonumber(due[i + 1]) == nowMs and tonumber(string.sub(m, 1, 6)) > nowNs then break end
  local id = string.sub(m, 7)
  local key = ARGV[6] .. id
  redis.call('ZREM', KEYS[1], m)
  if delivery(out, key, id) then
    local leased = ARGV[5] .. id
    redis.call('ZADD', KEYS[1], ARGV[4], leased)
    redis.call('HSET', key, 'm', leased)
  end
end
return out
`)

// luaDelivery reads deliveries for Lease and DeadLetters: delivery appends id and the fields
// of the delivery at key (j, p, a, n, e) to out, if it exists, and says whether it does.
const luaDelivery = `
local function delivery(out, key, id)
  local rec = redis.call('HMGET', key, 'j', 'p', 'a', 'n', 'e')
  if not rec[1] then return false end
  out[#out + 1] = id
  for j = 1, 5 do out[#out + 1] = rec[j] end
  return true
end
`

// scriptDone removes a queued delivery, if it is queued, with its members of the due index and
// of its subject's set.
//
//	KEYS: the delivery, the due index
//	ARGV: delivery ID, key prefix of subject sets
var scriptDone = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[1], 'm', 's')
if rec[1] then
  redis.call('ZREM', KEYS[2], rec[1])
  redis.call('DEL', KEYS[1])
  if rec[2] then redis.call('SREM', ARGV[2] .. rec[2], ARGV[1]) end
end
return 'OK'
`)

// scriptRetry stores a queued delivery's attempts, next attempt and last error and makes it
// due at the next attempt.
//
//	KEYS: the delivery, the due index
//	ARGV: a, n, e, member of the due index, score, then the caller's lease (luaLeaseHeld)
var scriptRetry = redis.NewScript(luaLeaseHeld + `
local m = redis.call('HGET', KEYS[1], 'm')
if not m then return 'NOTFOUND' end
if not leaseHeld(m, ARGV[6], ARGV[7]) then return 'LEASE' end
redis.call('ZREM', KEYS[2], m)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'n', ARGV[2], 'e', ARGV[3], 'm', ARGV[4])
return 'OK'
`)

// luaLeaseHeld defines leaseHeld(m, member, score): whether a delivery whose due index member
// is m (KEYS[2] is the due index) is still in the lease whose end is member and score; an
// empty member means the caller holds no lease and asks for no check.
const luaLeaseHeld = `
local function leaseHeld(m, member, score)
  if member == '' then return true end
  return m == member and tonumber(redis.call('ZSCORE', KEYS[2], m)) == tonumber(score)
end
`

// scriptBury moves a queued delivery, with its final attempts and last error, to the dead
// letters.
//
//	KEYS: the delivery, the due index, its dead-letter record, the dead-letter index
//	ARGV: a, e, delivery ID, then the caller's lease (luaLeaseHeld)
var scriptBury = redis.NewScript(luaLeaseHeld + `
local m = redis.call('HGET', KEYS[1], 'm')
if not m then return 'NOTFOUND' end
if not leaseHeld(m, ARGV[4], ARGV[5]) then return 'LEASE' end
redis.call('ZREM', KEYS[2], m)
redis.call('HSET', KEYS[1], 'a', ARGV[1], 'e', ARGV[2])
redis.call('HDEL', KEYS[1], 'm')
redis.call('RENAME', KEYS[1], KEYS[3])
redis.call('ZADD', KEYS[4], 0, ARGV[3])
return 'OK'
`)

// scriptDeadLetters returns up to limit dead letters in ID order after a cursor.
//
//	KEYS: the dead-letter index
//	ARGV: cursor ("" for the start), limit, key prefix of dead letters
//	→ {ID, j, p, a, n, e, …}
var scriptDeadLetters = redis.NewScript(luaDelivery + `
local min = '-'
if ARGV[1] ~= '' then min = '(' .. ARGV[1] end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], min, '+', 'LIMIT', 0, tonumber(ARGV[2]))) do
  delivery(out, ARGV[3] .. id, id)
end
return out
`)

// The agent's record value is the list of its tags' names and values, then the value (see
// encodeRecord in agent.go); luaFields reads the tags. The index of a tag is a sorted set of
// keys under the shard's key prefix: n:<name> for the tag, v:<name>:<value> for the tag with
// that value.

// scriptAgentOpen records an agent store (its configuration key), keeping the shard count of a
// store that exists.
//
//	KEYS: configuration
//	ARGV: shard count for a new store
//	→ the store's shard count
var scriptAgentOpen = redis.NewScript(`
redis.call('HSETNX', KEYS[1], 'shards', ARGV[1])
return redis.call('HGET', KEYS[1], 'shards')
`)

// scriptAgentSetConfig sets the tag names of an agent store that exists.
//
//	KEYS: configuration
//	ARGV: tag names (JSON)
var scriptAgentSetConfig = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTFOUND' end
redis.call('HSET', KEYS[1], 'tags', ARGV[1])
return 'OK'
`)

// scriptAgentWrite applies puts and deletes to the records of one shard, in order, with their
// tag indexes: all of them or, if a put marked new finds its key (stored, or put earlier in
// the same call), none.
//
//	KEYS: any key of the shard
//	ARGV: key prefix of the shard, then per operation: kind ("p" put, "n" put of a new key,
//	      "d" delete), key, record ("" for a delete)
//	→ "OK", or {"DUPLICATE", index of the operation}
var scriptAgentWrite = redis.NewScript(luaFields + `
local base = ARGV[1]
local n = (#ARGV - 1) / 3
local present = {}
for i = 0, n - 1 do
  local kind, key = ARGV[2 + 3 * i], ARGV[3 + 3 * i]
  if kind == 'n' then
    local p = present[key]
    if p == nil then p = redis.call('EXISTS', base .. 'r:' .. key) == 1 end
    if p then return {'DUPLICATE', i} end
  end
  present[key] = kind ~= 'd'
end
for i = 0, n - 1 do
  local kind, key, rec = ARGV[2 + 3 * i], ARGV[3 + 3 * i], ARGV[4 + 3 * i]
  local rk = base .. 'r:' .. key
  local old = redis.call('GET', rk)
  if old then
    local t = fields(old)
    for j = 1, #t, 2 do
      redis.call('ZREM', base .. 'n:' .. t[j], key)
      redis.call('ZREM', base .. 'v:' .. t[j] .. ':' .. t[j + 1], key)
    end
  end
  if kind == 'd' then
    if old then redis.call('DEL', rk) end
  else
    redis.call('SET', rk, rec)
    local t = fields(rec)
    for j = 1, #t, 2 do
      redis.call('ZADD', base .. 'n:' .. t[j], 0, key)
      redis.call('ZADD', base .. 'v:' .. t[j] .. ':' .. t[j + 1], 0, key)
    end
  end
end
return 'OK'
`)

// scriptAgentQuery finds the keys of one shard that match a query in disjunctive form: a key
// matches if it is in every index of at least one group. With a sort tag it also returns each
// key's value of that tag (nil if the record does not have the tag).
//
//	KEYS: any key of the shard
//	ARGV: key prefix of the shard, sort tag ("" for none), number of groups, then per group
//	      the number of indexes and their names relative to the prefix
//	→ {key, …} or, sorting, {key, value, …}
var scriptAgentQuery = redis.NewScript(luaFields + `
local base, sortTag = ARGV[1], ARGV[2]
local seen, hits = {}, {}
local pos = 4
for g = 1, tonumber(ARGV[3]) do
  local cnt = tonumber(ARGV[pos])
  pos = pos + 1
  local sets = {}
  for c = 1, cnt do
    sets[c] = base .. ARGV[pos]
    pos = pos + 1
  end
  local best, bestN = 1, redis.call('ZCARD', sets[1])
  for c = 2, cnt do
    local n = redis.call('ZCARD', sets[c])
    if n < bestN then best, bestN = c, n end
  end
  if bestN > 0 then
    for _, k in ipairs(redis.call('ZRANGE', sets[best], 0, -1)) do
      if not seen[k] then
        local all = true
        for c = 1, cnt do
          if c ~= best and not redis.call('ZSCORE', sets[c], k) then all = false break end
        end
        if all then
          seen[k] = true
          hits[#hits + 1] = k
        end
      end
    end
  end
end
if sortTag == '' then return hits end
local out = {}
for _, k in ipairs(hits) do
  local v = false
  local rec = redis.call('GET', base .. 'r:' .. k)
  if rec then
    local t = fields(rec)
    for j = 1, #t, 2 do
      if t[j] == sortTag then v = t[j + 1] break end
    end
  end
  out[#out + 1] = k
  out[#out + 1] = v
end
return out
`)
