-- patchroom: change some fields of an existing room.
-- KEYS: 1 cfg
-- ARGV: 1 now (ms), 2.. field, value pairs
-- Returns 0 when there is no such room.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'updated_ms', ARGV[1], unpack(ARGV, 2))
return 1
