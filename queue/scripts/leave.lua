-- leave: give up a place in the line, or end an admission early. An ended
-- admission is revoked: recorded (by time) for instances that poll, and
-- published for those that listen, so its token stops passing everywhere.
-- KEYS: 1 line, 2 active, 3 admitted-at, 4 log, 5 stats, 6 revoked, 7 cfg
-- ARGV: 1 queue id, 2 log length, 3 now (ms), 4 room, 5 revocation channel
-- Returns 1 when a waiter left, 2 when an admission ended, 0 when neither existed.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score then
  redis.call('ZREM', KEYS[1], ARGV[1])
  log_append(KEYS[5], KEYS[4], ARGV[2], 'r', score)
  return 1
end
local exp = redis.call('ZSCORE', KEYS[2], ARGV[1])
if exp and tonumber(exp) > tonumber(ARGV[3]) then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
  -- Revocations older than any session can no longer matter.
  local keep = tonumber(redis.call('HGET', KEYS[7], 'session') or 86400) * 1000
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', tonumber(ARGV[3]) - keep)
  redis.call('PUBLISH', ARGV[5], ARGV[4] .. ' ' .. ARGV[1])
  return 2
end
return 0
