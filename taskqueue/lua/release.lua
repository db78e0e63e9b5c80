-- Return a claimed message to the head of ready (its old place). ARGV: id, token.
-- Returns 1, or 0 if not ours.
local p = owned(ARGV[1], ARGV[2])
if not p then return 0 end
drop_claim(ARGV[1])
-- A worker shutting down gave it back: that delivery did not die, so it does not count.
if redis.call('HINCRBY', K_DELIVERIES, ARGV[1], -1) <= 0 then
  redis.call('HDEL', K_DELIVERIES, ARGV[1])
end
redis.call('LPUSH', ready_key(p), ARGV[1])
notify()
return 1
