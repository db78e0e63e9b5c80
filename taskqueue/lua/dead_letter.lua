-- Move a claimed message to the dead letters. ARGV: id, token, reason, now_ms.
-- Returns 1, or 0 if not ours.
local id = ARGV[1]
if not owned(id, ARGV[2]) then return 0 end
local value = redis.call('HGET', K_MSG, id) or '0'
drop_claim(id)
redis.call('HDEL', K_MSG, id)
redis.call('XADD', K_DEAD, '*', 'id', id, 'payload', string.sub(value, 2),
  'reason', ARGV[3], 'at_ms', ARGV[4])
return 1
