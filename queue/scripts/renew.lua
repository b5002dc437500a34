-- renew: a sign of activity of an admitted visitor (trigger.go). In a room
-- with sliding sessions (session_max > 0) a live admission then runs
-- session seconds from now, never past session_max seconds after it was
-- admitted; elsewhere it is read unchanged.
-- KEYS: 1 cfg, 2 active, 3 admitted-at
-- ARGV: 1 now (ms), 2 queue id
-- Returns {expires ms, admitted ms}, or {} when the admission has ended.
local now = tonumber(ARGV[1])
local c = redis.call('HMGET', KEYS[1], 'session', 'session_max')
if not c[1] then return {} end
local exp = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[2]) or 0)
if exp <= now then return {} end
local at = tonumber(redis.call('HGET', KEYS[3], ARGV[2]) or now)
local max = tonumber(c[2] or 0) or 0
if max > 0 then
  local want = math.min(now + tonumber(c[1]) * 1000, at + max * 1000)
  if want > exp then
    redis.call('ZADD', KEYS[2], 'XX', want, ARGV[2])
    exp = want
  end
end
return {exp, at}
