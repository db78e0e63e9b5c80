-- Enqueue-once for a batch of messages of one queue, atomically per message.
-- KEYS[10..]: the enqueue-once marker of each message, in order.
-- ARGV: now_ms, dedupe_ttl_ms, then per message: id, priority digit, eta_ms or '', payload.
-- Returns a string of '1' (pushed) / '0' (refused as a duplicate), one char per message.
local now = tonumber(ARGV[1])
local ttl = ARGV[2]
-- Due delayed messages go first, so they queue ahead of what is enqueued from now on.
promote(now)
local n = (#ARGV - 2) / 4
local seq = redis.call('INCRBY', K_SEQ, n) - n
local ready, delayed, out = {}, {}, {}
for i = 1, n do
  local at = 2 + (i - 1) * 4
  local id, priority, eta = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  -- A duplicate is an id seen within the TTL, or one still in the queue (in any state).
  if redis.call('SET', KEYS[9 + i], '1', 'NX', 'PX', ttl)
      and redis.call('HSETNX', K_MSG, id, priority .. ARGV[at + 4]) == 1 then
    if eta ~= '' and tonumber(eta) > now then
      delayed[#delayed + 1] = eta
      delayed[#delayed + 1] = id
    else
      ready[#ready + 1] = ready_score(tonumber(priority), seq + i)
      ready[#ready + 1] = id
    end
    out[i] = '1'
  else
    out[i] = '0'
  end
end
bulk('ZADD', K_READY, ready)
bulk('ZADD', K_DELAYED, delayed)
if #ready > 0 then notify() end
return table.concat(out)
