-- Take a leader lease. KEYS[1] the lease HASH (owner, token), expiring with the lease;
-- KEYS[2] the lease's fencing counter (never expires, so tokens only grow). ARGV[1] owner,
-- ARGV[2] ttl in ms.
-- Returns the fencing token, or nil if another owner holds the lease.
--
-- Expiry is Redis's own PEXPIRE (the server clock), so no two hosts' clocks ever have to agree
-- on whether the lease ran out.
local holder = redis.call('HGET', KEYS[1], 'owner')
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('HGET', KEYS[1], 'token'))
end
if holder then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
