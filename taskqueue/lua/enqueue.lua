-- Enqueue-once for a batch of messages of one queue, atomically per message.
-- KEYS[18]: the set of ids seen in the current dedupe window; KEYS[19]: the previous window's.
-- ARGV[1] now_ms; ARGV[2] end of the next window in ms (when KEYS[18] may go); ARGV[3] the
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
-- The layout keeps the per-message work small (a burst is 100,000 messages): two arguments
-- per message, and when nothing is a duplicate the msg hash is written straight from ARGV.
local SEEN, SEEN_BEFORE = KEYS[18], KEYS[19]
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
local in_current = each('SMISMEMBER', SEEN, ids)
local in_previous = each('SMISMEMBER', SEEN_BEFORE, ids)
local queued = each('HMGET', K_MSG, ids)
local out, fresh, ready, delayed = {}, {}, {}, {}
local duplicates, any_ready = 0, false
for i = 1, n do
  local id = ids[i]
  if in_current[i] == 1 or in_previous[i] == 1 or queued[i] then
    out[i] = '0'
    duplicates = duplicates + 1
  else
    fresh[#fresh + 1] = id
    local eta = etas and etas[i] or ''
    if eta ~= '' and tonumber(eta) > now then
      delayed[#delayed + 1] = eta
      delayed[#delayed + 1] = id
    else
      local p = priority_in(ARGV[FIRST + 2 * i - 1])
      local list = ready[p]
      if not list then
        list = {}
        ready[p] = list
      end
      list[#list + 1] = id
      any_ready = true
    end
    out[i] = '1'
  end
end
if #fresh > 0 then
  each('SADD', SEEN, fresh)
  redis.call('PEXPIREAT', SEEN, ARGV[2])
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
  append_ready(ready)
  bulk('ZADD', K_DELAYED, delayed)
  if any_ready then notify() end
end
return table.concat(out)
