-- Shared by every per-queue script (prepended when the script is loaded).
--
-- KEYS[1..9] are one queue's keys, in the order of taskqueue.keys.QUEUE_KEY_NAMES:
--   1 ready  2 delayed  3 msg  4 inflight  5 claims  6 seq  7 dead  8 consumers  9 notify
-- Times are epoch milliseconds from the client, passed in ARGV: scripts never read the server
-- clock, so recover_expired(now) and a claim on the same host agree on what "now" is.
local K_READY, K_DELAYED, K_MSG, K_INFLIGHT, K_CLAIMS, K_SEQ, K_DEAD, K_NOTIFY =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9]

-- Ready score: priority band first (9 pops first), FIFO sequence within it. The sum stays
-- below 10 * 2^40 (about 1.1e13): an exact integer in a double, passed to Redis as a number
-- (converted with 17 significant digits) without loss.
local BAND = 2 ^ 40
local function ready_score(priority, seq)
  return (9 - priority) * BAND + seq
end

-- Scripts touch at most this many entries per call, so one call never blocks Redis for long
-- (and unpack() stays far below Lua's C stack limit).
local STEP = 1000

-- ``command key args[first..]`` in slices of STEP pairs (ZADD, HSET).
local function bulk(command, key, args, first)
  for i = first or 1, #args, 2 * STEP do
    redis.call(command, key, unpack(args, i, math.min(i + 2 * STEP - 1, #args)))
  end
end

-- ``command key items...`` in slices of STEP items; array replies concatenated (SMISMEMBER,
-- HMGET), others dropped (SADD).
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

-- A msg value is the priority digit followed by the payload.
local function priority_in(value)
  return (string.byte(value, 1) or 48) - 48
end

local function priority_of(id)
  local value = redis.call('HGET', K_MSG, id)
  if not value then return 0 end
  return priority_in(value)
end

-- Move delayed messages whose eta has come to ready, in eta order (one STEP per call).
local function promote(now)
  local due = redis.call('ZRANGEBYSCORE', K_DELAYED, '-inf', now, 'LIMIT', 0, STEP)
  if #due == 0 then return 0 end
  local seq = redis.call('INCRBY', K_SEQ, #due) - #due
  local args = {}
  for i, id in ipairs(due) do
    args[#args + 1] = ready_score(priority_of(id), seq + i)
    args[#args + 1] = id
  end
  bulk('ZADD', K_READY, args)
  redis.call('ZREM', K_DELAYED, unpack(due))
  return #due
end

-- The claim of an in-flight message if ``token`` owns it: its ready score (its place in the
-- queue, for release and recovery); nil if not in flight or owned by another claim.
local function owned(id, token)
  local claim = redis.call('HGET', K_CLAIMS, id)
  if not claim then return nil end
  local sep = string.find(claim, ':', 1, true)
  if string.sub(claim, 1, sep - 1) ~= token then return nil end
  return string.sub(claim, sep + 1)
end

local function drop_claim(id)
  redis.call('ZREM', K_INFLIGHT, id)
  redis.call('HDEL', K_CLAIMS, id)
end

-- Return in-flight messages whose lease deadline is <= now to ready, in their old place.
local function recover(now)
  local expired = redis.call('ZRANGEBYSCORE', K_INFLIGHT, '-inf', now, 'LIMIT', 0, STEP)
  if #expired == 0 then return 0 end
  local args = {}
  for _, id in ipairs(expired) do
    local claim = redis.call('HGET', K_CLAIMS, id)
    local score
    if claim then
      score = string.sub(claim, string.find(claim, ':', 1, true) + 1)
    else
      score = ready_score(priority_of(id), redis.call('INCR', K_SEQ))
    end
    args[#args + 1] = score
    args[#args + 1] = id
  end
  bulk('ZADD', K_READY, args)
  redis.call('ZREM', K_INFLIGHT, unpack(expired))
  redis.call('HDEL', K_CLAIMS, unpack(expired))
  notify()
  return #expired
end

