-- Drop up to STEP ready messages (beat purge), highest priority first; how many.
-- Delayed and in-flight messages are left alone. The caller calls again while STEP came back.
local n = 0
for p = 9, 0, -1 do
  while n < STEP do
    local ids = redis.call('LPOP', ready_key(p), STEP - n)
    if not ids then break end
    each('HDEL', K_MSG, ids)
    each('HDEL', K_DELIVERIES, ids)
    n = n + #ids
  end
end
return n
