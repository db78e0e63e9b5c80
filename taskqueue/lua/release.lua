-- Return a claimed message to ready in its old place. ARGV: id, token. 1, or 0 if not ours.
local score = owned(ARGV[1], ARGV[2])
if not score then return 0 end
drop_claim(ARGV[1])
redis.call('ZADD', K_READY, score, ARGV[1])
notify()
return 1
