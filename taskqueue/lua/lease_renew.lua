-- Renew a leader lease. KEYS[1] the lease HASH; ARGV[1] owner, ARGV[2] token, ARGV[3] ttl ms.
-- Returns 1 if renewed, 0 if the lease lapsed or changed hands (the caller is not the leader).
local lease = redis.call('HMGET', KEYS[1], 'owner', 'token')
if lease[1] ~= ARGV[1] or lease[2] ~= ARGV[2] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
