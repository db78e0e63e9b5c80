-- Return expired leases to ready (at most one step). ARGV: ms to look ahead of the server's
-- clock (0; a test's "as if later"). Returns how many.
return recover(server_now() + duration(ARGV[1]))
