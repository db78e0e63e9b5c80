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
local out
local n = 0

-- The STARTED status fields of a claimed payload, or nil if it does not name its task and
-- attempt.
local function started_fields(payload, deliveries)
  local ok, msg = pcall(cjson.decode, payload)
  if not ok or type(msg) ~= 'table' or type(msg.task) ~= 'string'
      or type(msg.attempt) ~= 'number' or msg.attempt ~= math.floor(msg.attempt)
      or msg.attempt < 0 or msg.attempt > 1e9 then
    return nil
  end
  return {'task', msg.task, 'state', 'STARTED', 'attempts', string.format('%d', msg.attempt + 1),
    'result', 'null', 'started_at_ms', string.format('%d', now), 'deliveries', deliveries}
end

local any_revoked = redis.call('EXISTS', K_REVOKED) == 1

-- Drop a revoked id's message instead of delivering it.
local function drop_revoked(id, value, expires)
  redis.call('HDEL', K_MSG, id)
  redis.call('HDEL', K_DELIVERIES, id)
  if status_prefix ~= '' then record_revoked(status_prefix .. id, value, now, expires) end
end

-- Claim ``ids`` popped from the ready list of priority ``p``: each command once for the
-- batch (a command called from a script costs more than the work it does for one id).
local function claim(ids, p)
  local values = redis.call('HMGET', K_MSG, unpack(ids))
  local counts = redis.call('HMGET', K_DELIVERIES, unpack(ids))
  local inflight, claims, delivered, statuses = {}, {}, {}, {}
  for i, id in ipairs(ids) do
    local value = values[i]
    local revoked = value and any_revoked and revoked_until(K_REVOKED, id, now)
    if revoked then
      drop_revoked(id, value, revoked)
    -- An id without a payload cannot be delivered (nothing to dead-letter): skip it.
    elseif value then
      n = n + 1
      inflight[#inflight + 1] = lease_until
      inflight[#inflight + 1] = id
      claims[#claims + 1] = id
      claims[#claims + 1] = prefix .. '-' .. n .. ':' .. p
      local _, _, payload, problem = parse_value(value)
      local deliveries = string.format('%d', delivery_count(counts[i]) + 1)
      delivered[#delivered + 1] = id
      delivered[#delivered + 1] = deliveries
      local fields = not problem and status_prefix ~= '' and started_fields(payload, deliveries)
      if fields then statuses[#statuses + 1] = {status_prefix .. id, fields} end
      out[#out + 1] = id
      out[#out + 1] = payload
      out[#out + 1] = problem or ''
      out[#out + 1] = deliveries
    end
  end
  if #inflight == 0 then return end
  redis.call('ZADD', K_INFLIGHT, unpack(inflight))
  redis.call('HSET', K_CLAIMS, unpack(claims))
  redis.call('HSET', K_DELIVERIES, unpack(delivered))
  if #statuses > 0 then
    local keys = {}
    for i, status in ipairs(statuses) do keys[i] = status[1] end
    redis.call('DEL', unpack(keys)) -- fields of an earlier state (an old error) must not linger
    for _, status in ipairs(statuses) do redis.call('HSET', status[1], unpack(status[2])) end
  end
end

out = {0, lease_until}
while n < max_count do
  local ids, p = pop_ready(max_count - n)
  if not ids then break end
  claim(ids, p)
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
