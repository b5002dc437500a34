-- patchroom: change some fields of an existing room.
-- KEYS: 1 cfg, 2 adapt, 3 adapt log
-- ARGV: 1 now (ms), 2.. field, value pairs
-- Returns 0 when there is no such room.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local adaptive = redis.call('HGET', KEYS[1], 'adaptive')
redis.call('HSET', KEYS[1], 'updated_ms', ARGV[1], unpack(ARGV, 2))
-- Switching adaptive admission on starts its rate afresh.
if redis.call('HGET', KEYS[1], 'adaptive') == '1' and adaptive ~= '1' then
  adaptive_start(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
end
return 1
