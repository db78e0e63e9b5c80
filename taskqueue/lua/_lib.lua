-- Shared by every per-queue script (prepended when the script is loaded).
--
-- KEYS[1..18] are one queue's keys, in the order of taskqueue.keys.QUEUE_KEY_NAMES:
--   1 delayed  2 msg  3 inflight  4 claims  5 dead  6 consumers  7 notify
--   8..17 ready:0 .. ready:9 (one list per priority)  18 deliveries
-- Times are epoch milliseconds by the Redis server's clock (server_now): the one clock every
-- host shares, so a worker or beat whose wall clock is off can neither make a live lease look
-- expired nor a delayed message look due. Clients send durations (a lease, a delay), never
-- instants of their own clock.
--
-- Ready messages: one LIST of ids per priority, popped from the head, highest priority first.
-- Lists rather than one sorted set scored by (priority, sequence): a burst appends 100,000 ids
-- with a few RPUSHes, where a sorted set costs a skiplist insert per id (measured: ZADD was
-- the largest single cost of enqueue). A message going back to ready (release, expired lease)
-- goes to the head of its list: everything still in the list was enqueued after it, so it
-- keeps its place.
local K_DELAYED, K_MSG, K_INFLIGHT, K_CLAIMS, K_DEAD, K_NOTIFY =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[7]
local READY0 = 8 -- KEYS[READY0 + p] is the ready list of priority p
-- How many KEYS are the queue's own; a script's extra keys come after them.
local N_QUEUE_KEYS = 18
local K_DELIVERIES = KEYS[18]

-- Now, in epoch ms, by the Redis server's clock.
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A client's duration in ms (ARGV text); 0 if it is not a number.
local function duration(text)
  return tonumber(text) or 0
end

local function ready_key(priority)
  return KEYS[READY0 + priority]
end

-- Scripts touch at most this many entries per call, so one call never blocks Redis for long
-- (and unpack() stays far below Lua's C stack limit).
local STEP = 1000

-- ``command key args[first..last]`` in slices of STEP pairs (HSET).
local function bulk(command, key, args, first)
  for i = first or 1, #args, 2 * STEP do
    redis.call(command, key, unpack(args, i, math.min(i + 2 * STEP - 1, #args)))
  end
end

-- ``command key items...`` in slices of STEP items; array replies concatenated (SMISMEMBER,
-- HMGET), others dropped (SADD, RPUSH).
local function each(command, key, items)
  local replies = {}
  for i = 1, #items, STEP do
    local part = redis.call(command, key, unpack(items, i, math.min(i + STEP - 1, #items)))
    if type(part) == 'table' then
      for j = 1, #part do replies[#replies + 1] = part[j] end
    end
  end
  return replies
end

local function notify()
  -- At most one token: a woken claimer that takes a message passes the token on (see claim).
  redis.call('LPUSH', K_NOTIFY, '1')
  redis.call('LTRIM', K_NOTIFY, 0, 0)
end

-- A msg value is "<priority digit><dedupe TTL ms>:<payload>": the priority, to put the
-- message back in the right ready list; the TTL, for how long its id is remembered once the
-- message is done (see remember).
--
-- Scripts must never fail on what they read: the store may hold anything (a bug, an older
-- version, a hand edit). Every parse below has a fallback, and claim_many hands a malformed
-- value to the worker as a delivery with a problem text, which the worker dead-letters.
local DEFAULT_TTL = 86400000

-- (priority, ttl, payload, problem) of a msg value; problem is nil for a well-formed one,
-- else says what is wrong (then priority, ttl and payload are the fallbacks).
local function parse_value(value)
  local first = string.byte(value, 1)
  local p = (first or 0) - 48
  local problem = nil
  if not first then
    return 0, DEFAULT_TTL, value, 'empty value'
  elseif p < 0 or p > 9 then
    p = 0
    problem = 'priority is not a digit 0-9 (first byte ' .. first .. ')'
  end
  local sep = string.find(value, ':', 2, true)
  if not sep then
    return p, DEFAULT_TTL, value, problem or 'no ":" after the priority and dedupe TTL'
  end
  local ttl = tonumber(string.sub(value, 2, sep - 1))
  if not ttl or ttl < 1 or ttl ~= math.floor(ttl) or ttl > 1e15 then
    ttl = DEFAULT_TTL
    problem = problem or ('dedupe TTL ' .. string.format('%q', string.sub(value, 2, sep - 1))
      .. ' is not a positive integer of milliseconds')
  end
  return p, ttl, string.sub(value, sep + 1), problem
end

-- Just the priority (enqueue's hot path: its values were just built by the client).
local function priority_in(value)
  local p = (string.byte(value, 1) or 0) - 48
  if p < 0 or p > 9 then return 0 end
  return p
end

local function ttl_in(value)
  local _, ttl = parse_value(value)
  return ttl
end

local function payload_in(value)
  local _, _, payload = parse_value(value)
  return payload
end

-- A priority read back from the store (a claim record): 0 unless a digit 0-9.
local function valid_priority(text)
  local p = tonumber(text)
  if not p or p < 0 or p > 9 or p ~= math.floor(p) then return 0 end
  return p
end

-- Enqueue-once after the message is gone (acked, dead-lettered): its id joins the set of ids
-- finished in the current dedupe window, kept until the end of the next window. The set's
-- name is built here, from the queue's hash tag (``tag``, passed in ARGV), so it is in the
-- queue's slot; enqueue.lua is given the same names in KEYS.
local function seen_set(tag, value, now)
  local ttl = ttl_in(value)
  local window = math.floor(now / ttl)
  local key = tag .. ':seen:' .. ttl .. ':' .. string.format('%d', window)
  return key, string.format('%d', (window + 2) * ttl)
end

local function remember(tag, id, value, now)
  local key, expire_at = seen_set(tag, value, now)
  redis.call('SADD', key, id)
  redis.call('PEXPIREAT', key, expire_at)
end

local function priority_of(id)
  local value = redis.call('HGET', K_MSG, id)
  if not value then return 0 end
  return priority_in(value)
end

-- Append ids to the ready lists: by_priority[p] is a list of ids of priority p.
local function append_ready(by_priority)
  for p = 0, 9 do
    local ids = by_priority[p]
    if ids and #ids > 0 then each('RPUSH', ready_key(p), ids) end
  end
end

-- Move delayed messages whose eta has come to the tail of ready, in eta order (one STEP).
-- A burst of 1,000,000 is promoted at its instant (promote_due.lua), so this is per message
-- cost: one HMGET for the step's priorities (not an HGET each), and the step removed by rank
-- (ZREM looked each member up: 4 us a message, most of a promotion's Redis time).
local function promote(now)
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, STEP)
  local n = #due
  if n == 0 then return 0 end
  local values = redis.call('HMGET', K_MSG, unpack(due))
  local by_priority = {}
  for i = 1, n do
    local value = values[i]
    local p = value and priority_in(value) or 0
    local ids = by_priority[p]
    if not ids then
      ids = {}
      by_priority[p] = ids
    end
    ids[#ids + 1] = due[i]
  end
  append_ready(by_priority)
  -- The step is the n lowest scores (all <= now), so ranks 0 .. n-1: removed by rank, in the
  -- same script, nothing can come between.
  redis.call('ZREMRANGEBYRANK', K_DELAYED, 0, n - 1)
  return n
end

-- The claim of an in-flight message is "<token>:<priority>". Returns the priority if
-- ``token`` owns the claim (its text, false/nil: none); nil if not in flight or owned by
-- another claim.
local function claim_priority(claim, token)
  if not claim then return nil end
  local sep = string.find(claim, ':', 1, true)
  -- A claim record without its separator was not written by a claim: no token owns it (its
  -- lease runs out and recover() returns the message).
  if not sep or string.sub(claim, 1, sep - 1) ~= token then return nil end
  return valid_priority(string.sub(claim, sep + 1))
end

-- claim_priority of ``id``'s claim.
local function owned(id, token)
  return claim_priority(redis.call('HGET', K_CLAIMS, id), token)
end

-- A delivery count read back from the store: 0 unless a small whole number.
local function delivery_count(text)
  local n = tonumber(text)
  if not n or n ~= math.floor(n) or n < 0 or n > 1e9 then return 0 end
  return n
end

-- Add ``step`` to the delivery count of ``id`` and return it; a count that is not a small
-- whole number (garbage) counts as 0, and a count that reaches 0 is dropped.
local function count_delivery(id, step)
  local n = delivery_count(redis.call('HGET', K_DELIVERIES, id)) + step
  if n <= 0 then
    redis.call('HDEL', K_DELIVERIES, id)
    return 0
  end
  redis.call('HSET', K_DELIVERIES, id, string.format('%d', n))
  return n
end

-- The ready lists, highest priority first, and the priority of each.
local function ready_by_priority()
  local keys, priority_of_key = {}, {}
  for p = 9, 0, -1 do
    keys[#keys + 1] = ready_key(p)
    priority_of_key[ready_key(p)] = p
  end
  return keys, priority_of_key
end

-- LMPOP's arguments over ``keys`` (unpack() expands only as the last argument).
local function lmpop_args(keys, count)
  local args = {'LMPOP', #keys}
  for _, key in ipairs(keys) do args[#args + 1] = key end
  args[#args + 1] = 'LEFT'
  args[#args + 1] = 'COUNT'
  args[#args + 1] = count
  return args
end

-- Pop up to ``count`` ids from the head of the best non-empty ready list: (ids, priority),
-- or nil if every list is empty. One LMPOP (Redis 7) rather than an LPOP per priority;
-- Redis 6.2 has no LMPOP, so its error falls back to the LPOPs.
local function pop_ready(count)
  local keys, priority_of_key = ready_by_priority()
  local ok, popped = pcall(redis.call, unpack(lmpop_args(keys, count)))
  if ok then
    if not popped then return nil end
    return popped[2], priority_of_key[popped[1]]
  end
  for _, key in ipairs(keys) do
    local ids = redis.call('LPOP', key, count)
    if ids then return ids, priority_of_key[key] end
  end
  return nil
end

local function drop_claim(id)
  redis.call('ZREM', K_INFLIGHT, id)
  redis.call('HDEL', K_CLAIMS, id)
end

-- Return in-flight messages whose lease deadline is <= now to the head of ready. Latest
-- deadline first, each pushed to the head, so the earliest claimed ends up first (and a
-- later step, handling earlier deadlines, puts them ahead of this one's).
local function recover(now)
  local expired = redis.call('ZREVRANGEBYSCORE', K_INFLIGHT, now, '-inf', 'LIMIT', 0, STEP)
  if #expired == 0 then return 0 end
  for _, id in ipairs(expired) do
    local claim = redis.call('HGET', K_CLAIMS, id)
    local sep = claim and string.find(claim, ':', 1, true)
    local p
    if sep then
      p = valid_priority(string.sub(claim, sep + 1))
    else
      p = priority_of(id)
    end
    redis.call('LPUSH', ready_key(p), id)
  end
  redis.call('ZREM', K_INFLIGHT, unpack(expired))
  redis.call('HDEL', K_CLAIMS, unpack(expired))
  notify()
  return #expired
end


-- The settling steps (settle.lua). Each assumes the
-- caller checked ownership with owned(). ``tag`` is the queue's hash tag (see remember).

-- Remove a finished message and remember its id.
local function settle_ack(id, now, tag)
  drop_claim(id)
  redis.call('HDEL', K_DELIVERIES, id)
  local value = redis.call('HGET', K_MSG, id)
  if value then
    redis.call('HDEL', K_MSG, id)
    remember(tag, id, value, now)
  end
end

-- Replace a claimed message with its next attempt (``priority`` a digit string), delayed
-- until ``eta`` (appended to ready if it is not in the future); it keeps its dedupe TTL.
local function settle_retry(id, now, eta, priority, payload)
  drop_claim(id)
  redis.call('HDEL', K_DELIVERIES, id) -- a new attempt counts its deliveries from zero
  local old = redis.call('HGET', K_MSG, id)
  local ttl = old and ttl_in(old) or DEFAULT_TTL
  redis.call('HSET', K_MSG, id, priority .. string.format('%d', ttl) .. ':' .. payload)
  if eta > now then
    redis.call('ZADD', K_DELAYED, string.format('%d', eta), id)
  else
    redis.call('RPUSH', ready_key(tonumber(priority)), id)
    notify()
  end
end

-- Move a claimed message to the dead letters with ``reason`` and remember its id.
local function settle_dead(id, reason, now, tag)
  drop_claim(id)
  redis.call('HDEL', K_DELIVERIES, id)
  local value = redis.call('HGET', K_MSG, id)
  local payload = ''
  if value then
    redis.call('HDEL', K_MSG, id)
    remember(tag, id, value, now)
    payload = payload_in(value)
  end
  redis.call('XADD', K_DEAD, '*', 'id', id, 'payload', payload, 'reason', reason,
    'at_ms', string.format('%d', now))
end

-- Revocations (beat revoke): the revoked ids are a ZSET id -> expiry ms, not one of the
-- queue's keys (a revoke names an id, not a queue); scripts that read it get it after the
-- queue's keys. Fine on one server, like the status keys (see claim_many.lua).

-- Whether ``id`` is revoked now (its revocation has not expired); the expiry, or nil.
local function revoked_until(k_revoked, id, now)
  local score = tonumber(redis.call('ZSCORE', k_revoked, id))
  if score and score > now then return score end
  return nil
end

-- Record ``id`` REVOKED in its status hash ``key`` until ``expires`` (ms), from its msg value:
-- task and attempt as the payload names them (none if it is garbage: still revoked).
local function record_revoked(key, value, now, expires)
  local task, attempts = '', '0'
  local ok, msg = pcall(cjson.decode, payload_in(value))
  if ok and type(msg) == 'table' then
    if type(msg.task) == 'string' then task = msg.task end
    if type(msg.attempt) == 'number' and msg.attempt >= 0 and msg.attempt < 1e9 then
      attempts = string.format('%d', msg.attempt)
    end
  end
  redis.call('DEL', key)
  redis.call('HSET', key, 'task', task, 'state', 'REVOKED', 'attempts', attempts,
    'result', 'null', 'error', 'revoked', 'finished_at_ms', string.format('%d', now))
  redis.call('PEXPIREAT', key, string.format('%d', expires))
end
