-- Enqueue-once for a batch of messages of one queue, atomically per message.
-- KEYS[N_QUEUE_KEYS + 1], only for a fenced enqueue: a leader lease HASH (lease_acquire.lua).
-- ARGV[1] the dedupe TTL in ms; ARGV[2] the delays in ms from now, comma-separated ('' for
-- none), or '' if no message has one; ARGV[3] the fencing token ('' for an unfenced
-- enqueue); ARGV[4] the queue's key tag; then per message the pair id, value (the msg hash
-- value:
-- "<priority digit><dedupe TTL ms>:<payload>"). Ids are distinct (the client refuses later
-- copies within a batch).
-- Returns a string of '1' (pushed) / '0' (refused as a duplicate), one char per message.
--
-- An id is a duplicate while its message is in the queue (ready, delayed or in flight: the
-- msg hash), and after that while it is in one of the two newest "finished" windows (ack and
-- dead_letter add it; a window is one TTL long), i.e. for one to two TTLs after the message
-- was done. Remembering ids when messages leave, not when they arrive, keeps the burst path
-- to reads plus the writes a message needs anyway (its payload, its place in a list), and an
-- id is never forgotten while its message is still queued.
local FIRST = 5
local now = server_now()
-- The sets of ids finished in the current and the previous dedupe window (see remember).
local ttl = tonumber(ARGV[1])
local window = math.floor(now / ttl)
local SEEN = ARGV[4] .. ':seen:' .. ARGV[1] .. ':' .. string.format('%d', window)
local SEEN_BEFORE = ARGV[4] .. ':seen:' .. ARGV[1] .. ':' .. string.format('%d', window - 1)
-- Fencing: a sender whose token is not the live lease's (a leader paused past its lease and
-- replaced) pushes nothing. Checked in the same script as the push, so no lease change can
-- slip between the check and the write. The error names the current holder for the log.
if ARGV[3] ~= '' then
  local lease = redis.call('HMGET', KEYS[N_QUEUE_KEYS + 1], 'owner', 'token')
  if lease[2] ~= ARGV[3] then
    return redis.error_reply('FENCED ' .. (lease[2] or '') .. '\t' .. (lease[1] or ''))
  end
end
-- Due delayed messages go first, so they queue ahead of what is enqueued from now on.
promote(now)
local n = (#ARGV - FIRST + 1) / 2
local ids = {}
for i = 1, n do ids[i] = ARGV[FIRST + 2 * (i - 1)] end
local delays = nil
if ARGV[2] ~= '' then
  delays = {}
  for delay in string.gmatch(ARGV[2] .. ',', '([^,]*),') do delays[#delays + 1] = delay end
end
local in_current = each('SMISMEMBER', SEEN, ids)
local in_previous = each('SMISMEMBER', SEEN_BEFORE, ids)
local queued = each('HMGET', K_MSG, ids)
local out, ready, delayed = {}, {}, {}
local pushed = 0
local duplicates, any_ready = 0, false
for i = 1, n do
  local id = ids[i]
  if in_current[i] == 1 or in_previous[i] == 1 or queued[i] then
    out[i] = '0'
    duplicates = duplicates + 1
  else
    pushed = pushed + 1
    local delay = delays and delays[i] or ''
    if delay ~= '' and duration(delay) > 0 then
      delayed[#delayed + 1] = string.format('%d', now + duration(delay))
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
if pushed > 0 then
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
