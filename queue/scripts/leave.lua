-- leave: give up a place in the line, or end an admission early.
-- KEYS: 1 line, 2 active, 3 admitted-at, 4 log, 5 stats
-- ARGV: 1 queue id, 2 log length
-- Returns 1 when a waiter left, 2 when an admission ended, 0 when neither existed.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score then
  redis.call('ZREM', KEYS[1], ARGV[1])
  log_append(KEYS[5], KEYS[4], ARGV[2], 'r', score)
  return 1
end
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 2
end
return 0
