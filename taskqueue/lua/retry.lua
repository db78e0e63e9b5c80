-- Replace a claimed message with its next attempt, delayed until its eta (appended to ready
-- if the eta has passed); it keeps its dedupe TTL. ARGV: id, token, now_ms, eta_ms, priority
-- digit, payload. Returns 1, or 0 if not ours.
local id = ARGV[1]
if not owned(id, ARGV[2]) then return 0 end
drop_claim(id)
local old = redis.call('HGET', K_MSG, id)
local ttl = old and ttl_in(old) or 86400000
redis.call('HSET', K_MSG, id, ARGV[5] .. string.format('%d', ttl) .. ':' .. ARGV[6])
if tonumber(ARGV[4]) > tonumber(ARGV[3]) then
  redis.call('ZADD', K_DELAYED, ARGV[4], id)
else
  redis.call('RPUSH', ready_key(tonumber(ARGV[5])), id)
  notify()
end
return 1
