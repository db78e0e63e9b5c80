-- Return a claimed message to the head of ready (its old place). ARGV: id, token.
-- Returns 1, or 0 if not ours.
local p = owned(ARGV[1], ARGV[2])
if not p then return 0 end
drop_claim(ARGV[1])
-- A worker shutting down gave it back: that delivery did not die, so it does not count.
count_delivery(ARGV[1], -1)
redis.call('LPUSH', ready_key(p), ARGV[1])
notify()
return 1
