-- Give up a leader lease. KEYS[1] the lease HASH; ARGV[1] owner, ARGV[2] token.
-- Returns 1 if released, 0 if it was not held by owner/token. The fencing counter stays.
local lease = redis.call('HMGET', KEYS[1], 'owner', 'token')
if lease[1] ~= ARGV[1] or lease[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
return 1
