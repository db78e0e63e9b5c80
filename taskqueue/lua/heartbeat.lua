-- Announce a live consumer. KEYS: the consumers ZSET of each of its queues. ARGV[1] the
-- consumer, ARGV[2] how long it counts as live, in ms. Expiry is by the server's clock, as
-- every other deadline (see _lib.lua); entries that ran out are dropped on the way.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now))
end
return 1
