-- Remove a finished message. ARGV: id, token. Returns 1, or 0 if not ours.
if not owned(ARGV[1], ARGV[2]) then return 0 end
drop_claim(ARGV[1])
redis.call('HDEL', K_MSG, ARGV[1])
return 1
