-- Renew a claim's lease. ARGV: id, token, lease ms. Returns the new lease deadline (epoch ms,
-- server clock), or 0 if not ours.
if not owned(ARGV[1], ARGV[2]) then return 0 end
local lease_until = server_now() + duration(ARGV[3])
redis.call('ZADD', K_INFLIGHT, 'XX', string.format('%d', lease_until), ARGV[1])
return lease_until
