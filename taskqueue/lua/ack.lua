-- Remove a finished message and remember its id (see remember). ARGV: id, token, now_ms,
-- queue key tag. Returns 1, or 0 if not ours.
local id = ARGV[1]
if not owned(id, ARGV[2]) then return 0 end
drop_claim(id)
local value = redis.call('HGET', K_MSG, id)
if value then
  redis.call('HDEL', K_MSG, id)
  remember(ARGV[4], id, value, tonumber(ARGV[3]))
end
return 1
