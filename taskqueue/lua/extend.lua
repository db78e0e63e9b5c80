-- Renew a claim's lease. ARGV: id, token, lease_until_ms. Returns 1, or 0 if not ours.
if not owned(ARGV[1], ARGV[2]) then return 0 end
redis.call('ZADD', K_INFLIGHT, 'XX', ARGV[3], ARGV[1])
return 1
