-- Put dead letters back as new deliveries (beat dead requeue).
-- ARGV: the status key prefix, then per dead letter 5 values: its stream entry id, its message
-- id, the priority digit, the new payload (attempts reset, built by the client) and its task.
-- The status is recorded QUEUED here, before any worker can claim the message (a status written
-- after this script could overwrite the outcome of a run that already finished). Like
-- claim_many's, the status keys are not declared (fine on one server). Returns per dead letter 'ok'
-- (appended to ready, entry deleted), 'gone' (the entry is no longer there) or 'live' (a
-- message with that id waits in the queue already: left alone).
local out = {}
local pushed = false
local status_prefix = ARGV[1]
for i = 2, #ARGV, 5 do
  local entry, id, p, payload = ARGV[i], ARGV[i + 1], valid_priority(ARGV[i + 2]), ARGV[i + 3]
  if #redis.call('XRANGE', K_DEAD, entry, entry) == 0 then
    out[#out + 1] = 'gone'
  elseif redis.call('HEXISTS', K_MSG, id) == 1 then
    out[#out + 1] = 'live'
  else
    redis.call('HSET', K_MSG, id, p .. string.format('%d', DEFAULT_TTL) .. ':' .. payload)
    redis.call('HDEL', K_DELIVERIES, id)
    redis.call('RPUSH', ready_key(p), id)
    redis.call('XDEL', K_DEAD, entry)
    local status = status_prefix .. id
    redis.call('DEL', status)
    redis.call('HSET', status, 'task', ARGV[i + 4], 'state', 'QUEUED', 'attempts', '0',
      'result', 'null')
    out[#out + 1] = 'ok'
    pushed = true
  end
end
if pushed then notify() end
return out
