-- Claim the best ready message of one queue.
-- ARGV: now_ms, lease_until_ms, token.
-- Returns {1, id, payload} or {0, ms of the next delayed eta or lease deadline, or -1}.
local now = tonumber(ARGV[1])
promote(now)
recover(now)
while true do
  local best = redis.call('ZPOPMIN', K_READY)
  if #best == 0 then break end
  local id, score = best[1], best[2]
  local value = redis.call('HGET', K_MSG, id)
  if value then
    redis.call('ZADD', K_INFLIGHT, ARGV[2], id)
    redis.call('HSET', K_CLAIMS, id, ARGV[3] .. ':' .. score)
    -- Pass the wake-up on: another blocked claimer may take the next one.
    if redis.call('ZCARD', K_READY) > 0 then notify() end
    return {1, id, string.sub(value, 2)}
  end
  -- A ready entry without a payload cannot be delivered; there is nothing to dead-letter.
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
