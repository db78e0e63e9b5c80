-- Move a claimed message to the dead letters and remember its id (see remember).
-- ARGV: id, token, reason, now_ms, queue key tag. Returns 1, or 0 if not ours.
local id = ARGV[1]
if not owned(id, ARGV[2]) then return 0 end
drop_claim(id)
local value = redis.call('HGET', K_MSG, id)
local payload = ''
if value then
  redis.call('HDEL', K_MSG, id)
  remember(ARGV[5], id, value, tonumber(ARGV[4]))
  payload = payload_in(value)
end
redis.call('XADD', K_DEAD, '*', 'id', id, 'payload', payload, 'reason', ARGV[3],
  'at_ms', ARGV[4])
return 1
