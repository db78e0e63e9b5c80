-- Revoke one task id; its message (if any) is in this queue.
-- KEYS: the queue's keys, then the revoked ZSET, the revoked-with-terminate ZSET, the id's
-- status hash and its done list. ARGV: id, terminate ('1' or '0'), ttl ms.
-- Returns {where, expiry ms}: where is 'queued' or 'delayed' (removed and recorded REVOKED),
-- 'running' (in flight: its worker terminates it if asked) or 'not found' (not in this queue).
local K_REVOKED = KEYS[N_QUEUE_KEYS + 1]
local K_TERMINATE = KEYS[N_QUEUE_KEYS + 2]
local K_STATUS, K_DONE = KEYS[N_QUEUE_KEYS + 3], KEYS[N_QUEUE_KEYS + 4]
local id, terminate, ttl = ARGV[1], ARGV[2] == '1', duration(ARGV[3])
local now = server_now()
local expires = now + math.max(ttl, 1)
local expires_text = string.format('%d', expires)
-- Bounded: expired revocations go whenever another is made.
redis.call('ZREMRANGEBYSCORE', K_REVOKED, '-inf', now)
redis.call('ZREMRANGEBYSCORE', K_TERMINATE, '-inf', now)
redis.call('ZADD', K_REVOKED, expires_text, id)
if terminate then redis.call('ZADD', K_TERMINATE, expires_text, id) end
local value = redis.call('HGET', K_MSG, id)
if not value then return {'not found', expires_text} end
if redis.call('ZSCORE', K_INFLIGHT, id) then return {'running', expires_text} end
local where = 'queued'
if redis.call('ZREM', K_DELAYED, id) == 1 then
  where = 'delayed'
elseif redis.call('LREM', ready_key(priority_in(value)), 1, id) == 0 then
  -- Not in the list its priority names (garbage priority): look in every list.
  for p = 0, 9 do
    if redis.call('LREM', ready_key(p), 1, id) > 0 then break end
  end
end
redis.call('HDEL', K_MSG, id)
redis.call('HDEL', K_DELIVERIES, id)
record_revoked(K_STATUS, value, now, expires)
redis.call('DEL', K_DONE)
redis.call('RPUSH', K_DONE, '1')
redis.call('PEXPIRE', K_DONE, 60000)
return {where, expires_text}
