-- Take a leader lease. KEYS[1] the lease HASH (owner, token), expiring with the lease;
-- KEYS[2] the lease's fencing counter (never expires, so tokens only grow; see below). ARGV[1] owner,
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
-- A token is never below the server's clock in ms. Redis can lose the counter (a restart
-- without persistence) or its last increments (a failover to a replica that had not got
-- them); counting on from there would hand out a token some beat may still hold, and its
-- fenced pushes would pass. Tenures are seconds apart, so the clock has moved past them.
local token = redis.call('INCR', KEYS[2])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if token < now_ms then
  token = now_ms
  redis.call('SET', KEYS[2], string.format('%d', token))
end
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token
