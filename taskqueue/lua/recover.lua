-- Return expired leases to ready (at most one step). ARGV: now_ms. Returns how many.
return recover(tonumber(ARGV[1]))
