-- adapt: one step of a room's adaptive admission rate (queue/adaptive.go).
-- Every instance's controller proposes steps; the step is taken only if
-- nobody stepped since the caller read the state (compare-and-set on the
-- time of the last step) and the last step is at least the gap old, so
-- instances never compound their steps.
-- KEYS: 1 cfg, 2 adapt, 3 adapt log
-- ARGV: 1 now (ms), 2 time of the last step the caller read (ms), 3 least gap (ms), 4 new rate, 5 reason
-- Returns 1 when this step was taken, else 0.
if redis.call('HGET', KEYS[1], 'adaptive') ~= '1' then return 0 end
local a = redis.call('HMGET', KEYS[2], 'rate', 'at')
if not a[2] or a[2] ~= ARGV[2] then return 0 end
if tonumber(ARGV[1]) - tonumber(a[2]) < tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], 'rate', ARGV[4], 'at', ARGV[1], 'why', ARGV[5])
if tonumber(a[1]) ~= tonumber(ARGV[4]) then
  adaptive_log(KEYS[3], ARGV[1], a[1], ARGV[4], ARGV[5])
end
return 1
