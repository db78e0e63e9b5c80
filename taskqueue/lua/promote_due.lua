-- Move the queue's delayed messages whose eta has come to the tail of ready, without a claim.
-- Beat calls it at the instant of the fires it pushed ahead (its lookahead), so a burst is
-- claimable at its instant instead of when workers' claims get round to it (each claim
-- promotes one STEP). Workers' claims still promote too: this only does it sooner.
-- ARGV[1]: at most this many per call (the caller calls again while a call comes back full),
-- so one call never blocks Redis for long.
-- Returns {moved, ms from now until the next delayed eta, or -1 if none is waiting}.
local now = server_now()
local limit = tonumber(ARGV[1]) or STEP
local moved = 0
while moved < limit do
  local n = promote(now)
  moved = moved + n
  if n < STEP then break end
end
-- One token wakes a blocked claimer, which passes it on while more are ready (claim_many).
if moved > 0 then notify() end
local next_due = -1
local first = redis.call('ZRANGE', K_DELAYED, 0, 0, 'WITHSCORES')
if #first > 0 then next_due = math.max(0, tonumber(first[2]) - now) end
return {moved, string.format('%.0f', next_due)}
