-- Claim up to max_count of one queue's best ready messages (highest priority list first, each
-- list from its head) and record each one STARTED.
-- ARGV: lease ms, token prefix, max_count, status key prefix ('' would record no status; the
-- broker always passes it).
-- Returns {n, lease deadline ms, id1, payload1, problem1, deliveries1, ..., id_n, payload_n,
-- problem_n, deliveries_n} with n >= 1 (claim i's token is "<prefix>-<i>"; problem '' for a
-- well-formed entry; deliveries: how many times its current attempt has now been claimed,
-- counted here so that a worker dying before it could record anything still counts), or
-- {0, ms from now until the next delayed eta or lease deadline, or -1}.
--
-- A msg value that is not well-formed (see parse_value) is claimed like any other, with the
-- problem named, so the worker dead-letters it and goes on: leaving it on the ready list
-- would stop the queue, failing here would stop every worker that claims it.
--
-- The status hash ("<status prefix><id>", as RedisBroker.set_status writes it) is not one of
-- the queue's keys: its name depends on the ids popped here, so it cannot be declared in KEYS.
-- Fine on one Redis server (this broker's deployment, see taskqueue/redis/); a Cluster deployment
-- would record STARTED with a separate call. A payload that is not a JSON object naming its
-- task and attempt gets no status: the worker dead-letters it and records what it can.
-- KEYS[N_QUEUE_KEYS + 1] is the revoked ZSET: a revoked id popped here is dropped (recorded
-- REVOKED), never delivered, whichever copy it is (a redelivery, a message sent again).
local K_REVOKED = KEYS[N_QUEUE_KEYS + 1]
local now = server_now()
local lease_until = string.format('%d', now + duration(ARGV[1]))
local prefix, max_count, status_prefix = ARGV[2], tonumber(ARGV[3]), ARGV[4]
promote(now)
recover(now)

local function record_started(id, payload, deliveries)
  local ok, msg = pcall(cjson.decode, payload)
  if not ok or type(msg) ~= 'table' or type(msg.task) ~= 'string'
      or type(msg.attempt) ~= 'number' or msg.attempt ~= math.floor(msg.attempt)
      or msg.attempt < 0 or msg.attempt > 1e9 then
    return
  end
  local key = status_prefix .. id
  redis.call('DEL', key) -- fields of an earlier state (an old error) must not linger
  redis.call('HSET', key, 'task', msg.task, 'state', 'STARTED',
    'attempts', string.format('%d', msg.attempt + 1), 'result', 'null',
    'started_at_ms', string.format('%d', now), 'deliveries', deliveries)
end

local any_revoked = redis.call('EXISTS', K_REVOKED) == 1

-- Drop a revoked id's message instead of delivering it.
local function drop_revoked(id, value, expires)
  redis.call('HDEL', K_MSG, id)
  redis.call('HDEL', K_DELIVERIES, id)
  if status_prefix ~= '' then record_revoked(status_prefix .. id, value, now, expires) end
end

local out = {0, lease_until}
local n = 0
for p = 9, 0, -1 do
  local key = ready_key(p)
  while n < max_count do
    local ids = redis.call('LPOP', key, max_count - n)
    if not ids then break end
    for _, id in ipairs(ids) do
      local value = redis.call('HGET', K_MSG, id)
      local revoked = value and any_revoked and revoked_until(K_REVOKED, id, now)
      if revoked then
        drop_revoked(id, value, revoked)
      -- An id without a payload cannot be delivered (nothing to dead-letter): skip it.
      elseif value then
        n = n + 1
        redis.call('ZADD', K_INFLIGHT, lease_until, id)
        redis.call('HSET', K_CLAIMS, id, prefix .. '-' .. n .. ':' .. p)
        local _, _, payload, problem = parse_value(value)
        local deliveries = count_delivery(id, 1)
        if not problem and status_prefix ~= '' then record_started(id, payload, deliveries) end
        out[#out + 1] = id
        out[#out + 1] = payload
        out[#out + 1] = problem or ''
        out[#out + 1] = deliveries
      end
    end
  end
  if n >= max_count then break end
end
if n > 0 then
  out[1] = n
  -- Pass the wake-up on: another blocked claimer may take the next one.
  if redis.call('EXISTS', unpack(KEYS, READY0, READY0 + 9)) > 0 then notify() end
  return out
end
local next_due = -1
for _, k in ipairs({K_DELAYED, K_INFLIGHT}) do
  local first = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES')
  if #first > 0 then
    local at = tonumber(first[2])
    if next_due < 0 or at < next_due then next_due = at end
  end
end
if next_due >= 0 then next_due = math.max(0, next_due - now) end
return {0, string.format('%.0f', next_due)}
