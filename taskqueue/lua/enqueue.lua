-- Enqueue-once for a batch of messages of one queue, atomically per message.
-- KEYS[10]: the set of ids seen in the current dedupe window; KEYS[11]: the previous window's.
-- ARGV[1] now_ms; ARGV[2] end of the next window in ms (when KEYS[10] may go); ARGV[3] the
-- etas in ms, comma-separated ('' for none), or '' if no message has one; then per message
-- the pair id, value (value = priority digit + payload, as stored in the msg hash). Ids are
-- distinct (the client refuses later copies within a batch).
-- Returns a string of '1' (pushed) / '0' (refused as a duplicate), one char per message.
--
-- Seen ids live in per-window sets (window = the dedupe TTL) rather than one key per id: a set
-- member costs a fraction of a key with its own expiry, and a whole batch is checked with one
-- SMISMEMBER per window. An id is refused while its window or the next one lasts, i.e. for at
-- least the TTL and at most twice it; and always while it is still in the queue.
--
-- The layout keeps the per-message work small (a burst is 100,000 messages): few arguments per
-- message, and when nothing is a duplicate the msg hash is written straight from ARGV.
local FIRST = 4
local now = tonumber(ARGV[1])
-- Due delayed messages go first, so they queue ahead of what is enqueued from now on.
promote(now)
local n = (#ARGV - FIRST + 1) / 2
local ids = {}
for i = 1, n do ids[i] = ARGV[FIRST + 2 * (i - 1)] end
local etas = nil
if ARGV[3] ~= '' then
  etas = {}
  for eta in string.gmatch(ARGV[3] .. ',', '([^,]*),') do etas[#etas + 1] = eta end
end
local in_current = each('SMISMEMBER', KEYS[10], ids)
local in_previous = each('SMISMEMBER', KEYS[11], ids)
local queued = each('HMGET', K_MSG, ids)
local seq = redis.call('INCRBY', K_SEQ, n) - n
local out, fresh, ready, delayed = {}, {}, {}, {}
local duplicates = 0
for i = 1, n do
  local id = ids[i]
  if in_current[i] == 1 or in_previous[i] == 1 or queued[i] then
    out[i] = '0'
    duplicates = duplicates + 1
  else
    fresh[#fresh + 1] = id
    local value = ARGV[FIRST + 2 * i - 1]
    local eta = etas and etas[i] or ''
    if eta ~= '' and tonumber(eta) > now then
      delayed[#delayed + 1] = eta
      delayed[#delayed + 1] = id
    else
      ready[#ready + 1] = ready_score(priority_in(value), seq + i)
      ready[#ready + 1] = id
    end
    out[i] = '1'
  end
end
if #fresh > 0 then
  each('SADD', KEYS[10], fresh)
  redis.call('PEXPIREAT', KEYS[10], ARGV[2])
  if duplicates == 0 then
    bulk('HSET', K_MSG, ARGV, FIRST)
  else
    local values = {}
    for i = 1, n do
      if out[i] == '1' then
        values[#values + 1] = ids[i]
        values[#values + 1] = ARGV[FIRST + 2 * i - 1]
      end
    end
    bulk('HSET', K_MSG, values)
  end
  bulk('ZADD', K_READY, ready)
  bulk('ZADD', K_DELAYED, delayed)
  if #ready > 0 then notify() end
end
return table.concat(out)
