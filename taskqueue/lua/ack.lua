-- Remove a finished message and remember its id (see remember). ARGV: id, token, now_ms,
-- queue key tag. Returns 1, or 0 if not ours.
if not owned(ARGV[1], ARGV[2]) then return 0 end
settle_ack(ARGV[1], tonumber(ARGV[3]), ARGV[4])
return 1
