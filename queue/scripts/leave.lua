-- leave: give up a place in the line, or end an admission early. An ended
-- admission is revoked until its session would have ended, whatever the
-- room's session_seconds becomes: recorded in the revoked set (member
-- "<queue id> <admitted ms>", score = the session's end in ms) for
-- instances that poll, and published as
-- "<room> <queue id> <session end ms> <admitted ms>" for those that listen,
-- so its token stops passing everywhere.
-- KEYS: 1 line, 2 active, 3 admitted-at, 4 log, 5 stats, 6 revoked, 7 users,
--       8 owners (the place's user id goes with it: forget_users)
-- ARGV: 1 queue id, 2 log length, 3 now (ms), 4 room, 5 revocation channel,
--       6 how long past its end a revocation is kept (ms; for clocks that disagree)
-- Returns {1} when a waiter left, {2, session end ms, admitted ms} when an
-- admission ended, {0} when neither existed.
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score then
  redis.call('ZREM', KEYS[1], ARGV[1])
  log_append(KEYS[5], KEYS[4], ARGV[2], 'r', score)
  forget_users(KEYS[7], KEYS[8], {ARGV[1]})
  return {1}
end
local now = tonumber(ARGV[3])
local exp = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]) or 0)
if exp > now then
  local at = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or now)
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  forget_users(KEYS[7], KEYS[8], {ARGV[1]})
  local member = string.format('%s %d', ARGV[1], at)
  redis.call('ZADD', KEYS[6], exp, member)
  -- A revocation matters until its token expires, and no longer.
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now - tonumber(ARGV[6]))
  redis.call('PUBLISH', ARGV[5], string.format('%s %s %d %d', ARGV[4], ARGV[1], exp, at))
  return {2, exp, at}
end
return {0}
