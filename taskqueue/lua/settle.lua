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
local out = {}
local i, item = 2, 0
while i <= #ARGV do
  item = item + 1
  local id, token, action = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local final, n = ARGV[i + 6], tonumber(ARGV[i + 7])
  local fields = i + 8
  local p = owned(id, token)
  if p then
    if action == 'a' then
      settle_ack(id, now, tag)
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
      redis.call('DEL', key) -- fields of an earlier state (an old error) must not linger
      redis.call('HSET', key, unpack(ARGV, fields, fields + n - 1))
      if final ~= '0' then
        redis.call('PEXPIRE', key, final)
        local done = KEYS[FIRST_STATUS_KEY + 2 * (item - 1) + 1]
        redis.call('DEL', done) -- at most one token: a waiter pops it and reads the status
        redis.call('RPUSH', done, '1')
        redis.call('PEXPIRE', done, DONE_TTL_MS)
      end
    end
    out[item] = '1'
  else
    out[item] = '0'
  end
  i = fields + n
end
return table.concat(out)
