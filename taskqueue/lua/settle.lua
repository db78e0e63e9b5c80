-- Settle a batch of one queue's claimed messages, each with its task status, atomically.
-- KEYS[N_QUEUE_KEYS + 1..]: per item, its status hash and its done list (declared: the ids
-- are known up front).
-- ARGV: queue key tag; then per item
--   id, token, action ('a' ack | 'r' retry | 'l' redeliver | 'd' dead letter), arg1, arg2,
--   arg3,
--   final (ms > 0: a final status, kept that long; '0': not final), n, then n status
--   field/value strings
-- where retry's args are the delay in ms from now, priority digit, payload; dead letter's arg1 is the reason;
-- n = 0 writes no status. Returns a string of '1' (settled) / '0' (not ours: neither the
-- action nor the status applied), one char per item.
local now, tag = server_now(), ARGV[1]
local FIRST_STATUS_KEY = N_QUEUE_KEYS + 1
-- A final status also pushes one token on the task's done list, which TaskResult.get BLPOPs
-- (taskqueue/keys.py DONE_TTL_MS: the same number).
local DONE_TTL_MS = 60000

-- ``command`` over ``items`` (keys or members after ``head``), STEP at a time.
local function in_steps(command, head, items)
  for s = 1, #items, STEP do
    local last = math.min(s + STEP - 1, #items)
    if head then
      redis.call(command, head, unpack(items, s, last))
    else
      redis.call(command, unpack(items, s, last))
    end
  end
end

-- Each command runs once for the batch where it can (a command called from a script costs
-- more than the work it does for one id): the claims are read together, the acks applied
-- together, the old statuses deleted together.
local items, ids = {}, {}
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i + 7])
  items[#items + 1] = {i, n}
  ids[#ids + 1] = ARGV[i]
  i = i + 8 + n
end
local claims = each('HMGET', K_CLAIMS, ids)

local out, acks, written, stale = {}, {}, {}, {}
local settled = {} -- ids settled by an earlier item of this call: no longer ours
for item, entry in ipairs(items) do
  local i, n = entry[1], entry[2]
  local id, token, action, final = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 6]
  local p = not settled[id] and claim_priority(claims[item], token)
  if p then
    settled[id] = true
    if action == 'a' then
      acks[#acks + 1] = id
    elseif action == 'l' then
      -- Back to the head of ready, unchanged; its delivery count stays (see claim_many).
      drop_claim(id)
      redis.call('LPUSH', ready_key(p), id)
      notify()
    elseif action == 'r' then
      settle_retry(id, now, now + duration(ARGV[i + 3]), ARGV[i + 4], ARGV[i + 5])
    else
      settle_dead(id, ARGV[i + 3], now, tag)
    end
    if n > 0 then
      local key = KEYS[FIRST_STATUS_KEY + 2 * (item - 1)]
      -- Fields of an earlier state (an old error) must not linger; a done list keeps at
      -- most one token (a waiter pops it and reads the status).
      local done = KEYS[FIRST_STATUS_KEY + 2 * (item - 1) + 1]
      stale[#stale + 1] = key
      if final ~= '0' then stale[#stale + 1] = done end
      written[#written + 1] = {key, i + 8, n, final, done}
    end
    out[item] = '1'
  else
    out[item] = '0'
  end
end

-- Acks: remove the finished messages and remember their ids (settle_ack, for the batch).
if #acks > 0 then
  in_steps('ZREM', K_INFLIGHT, acks)
  in_steps('HDEL', K_CLAIMS, acks)
  in_steps('HDEL', K_DELIVERIES, acks)
  local values = each('HMGET', K_MSG, acks)
  local gone, seen, expiry = {}, {}, {}
  for k, id in ipairs(acks) do
    if values[k] then
      gone[#gone + 1] = id
      local key, expire_at = seen_set(tag, values[k], now)
      if not seen[key] then seen[key] = {} end
      table.insert(seen[key], id)
      expiry[key] = expire_at
    end
  end
  in_steps('HDEL', K_MSG, gone)
  for key, members in pairs(seen) do
    in_steps('SADD', key, members)
    redis.call('PEXPIREAT', key, expiry[key])
  end
end

in_steps('DEL', nil, stale)
for _, w in ipairs(written) do
  local key, first, n, final, done = w[1], w[2], w[3], w[4], w[5]
  redis.call('HSET', key, unpack(ARGV, first, first + n - 1))
  if final ~= '0' then
    redis.call('PEXPIRE', key, final)
    redis.call('RPUSH', done, '1')
    redis.call('PEXPIRE', done, DONE_TTL_MS)
  end
end
return table.concat(out)
