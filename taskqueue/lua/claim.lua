-- Claim the best ready message of one queue: the head of the highest non-empty priority list.
-- ARGV: now_ms, lease_until_ms, token.
-- Returns {1, id, payload} or {0, ms of the next delayed eta or lease deadline, or -1}.
local now = tonumber(ARGV[1])
promote(now)
recover(now)
for p = 9, 0, -1 do
  local key = ready_key(p)
  while true do
    local id = redis.call('LPOP', key)
    if not id then break end
    local value = redis.call('HGET', K_MSG, id)
    if value then
      redis.call('ZADD', K_INFLIGHT, ARGV[2], id)
      redis.call('HSET', K_CLAIMS, id, ARGV[3] .. ':' .. p)
      -- Pass the wake-up on: another blocked claimer may take the next one.
      if redis.call('EXISTS', unpack(KEYS, READY0, READY0 + 9)) > 0 then notify() end
      return {1, id, payload_in(value)}
    end
    -- An id without a payload cannot be delivered (nothing to dead-letter): skip it.
  end
end
local next_due = -1
for _, key in ipairs({K_DELAYED, K_INFLIGHT}) do
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if #first > 0 then
    local at = tonumber(first[2])
    if next_due < 0 or at < next_due then next_due = at end
  end
end
return {0, string.format('%.0f', next_due)}
