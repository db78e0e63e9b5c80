-- Replace a claimed message with its next attempt, delayed until its eta (appended to ready
-- if the eta has passed); it keeps its dedupe TTL. ARGV: id, token, now_ms, eta_ms, priority
-- digit, payload. Returns 1, or 0 if not ours.
if not owned(ARGV[1], ARGV[2]) then return 0 end
settle_retry(ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6])
return 1
