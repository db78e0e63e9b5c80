-- Move a claimed message to the dead letters and remember its id (see remember).
-- ARGV: id, token, reason, now_ms, queue key tag. Returns 1, or 0 if not ours.
if not owned(ARGV[1], ARGV[2]) then return 0 end
settle_dead(ARGV[1], ARGV[3], tonumber(ARGV[4]), ARGV[5])
return 1
