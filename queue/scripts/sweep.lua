-- sweep: drop waiters who showed no sign of life in the heartbeat epochs
-- given (this one and as many before it as the caller's grace covers). One
-- sweep per epoch per room, done in bounded steps (whichever instance
-- calls first does the step), so a long line never blocks Redis.
-- A waiter who asked to be notified (notifyme.go) is kept, without signs of
-- life, until their keep-until time in KEYS[5].
-- KEYS: 1 line, 2 sweep state, 3 stats, 4 log, 5 notify keep-until (zset),
--       6 users, 7 owners (enqueue tokens' user ids: forget_users),
--       8.. bitmaps of epochs e, e-1, ...
-- ARGV: 1 epoch e, 2 step size, 3 log length, 4 now (ms)
-- Returns {dropped, done}.
local st = redis.call('HMGET', KEYS[2], 'epoch', 'cursor')
local cursor = '-inf'
if st[1] == ARGV[1] then
  if st[2] == 'done' then return {0, 1} end
  cursor = '(' .. st[2]
end
local batch = redis.call('ZRANGEBYSCORE', KEYS[1], cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local dead, scores = {}, {}
local function alive(seq)
  for k = 8, #KEYS do
    if redis.call('GETBIT', KEYS[k], seq) == 1 then return true end
  end
  return false
end
for i = 1, #batch, 2 do
  if not alive(tonumber(batch[i], 36))
      and tonumber(redis.call('ZSCORE', KEYS[5], batch[i]) or '0') <= tonumber(ARGV[4]) then
    dead[#dead + 1] = batch[i]
    scores[#scores + 1] = batch[i + 1]
  end
end
if #dead > 0 then
  redis.call('ZREM', KEYS[1], unpack(dead))
  redis.call('HINCRBY', KEYS[3], 'abandoned_total', #dead)
  log_append(KEYS[3], KEYS[4], ARGV[3], 'r', table.concat(scores, ' '))
  forget_users(KEYS[6], KEYS[7], dead)
end
local done = #batch < 2 * tonumber(ARGV[2])
if done then
  redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'cursor', 'done')
else
  redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'cursor', batch[#batch])
end
return {#dead, done and 1 or 0}
