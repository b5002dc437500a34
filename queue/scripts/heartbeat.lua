-- heartbeat: mark waiters alive in this epoch's bitmap (one call for many
-- waiters, so a gateway keeps thousands of sockets' places with one command).
-- KEYS: 1 heartbeat bitmap (this epoch)
-- ARGV: 1 bitmap ttl (s), 2.. queue ids
for i = 2, #ARGV do
  redis.call('SETBIT', KEYS[1], tonumber(ARGV[i], 36), 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return #ARGV - 1
