-- admit: the one global admission decision for a room. Every instance calls
-- it on its tick; the token bucket lives here, so the rate is the room's,
-- not the instance's, however many instances tick.
-- KEYS: 1 cfg, 2 line, 3 active, 4 admitted-at, 5 bucket, 6 stats, 7 rate ring, 8 log, 9 fair,
--       10 adapt, 11 adapt log, 12 users, 13 owners (enqueue tokens' user ids),
--       14/15 the room's new places this and last gate window (gate.go)
-- ARGV: 1 now (ms), 2 most to admit in one call, 3 log length, 4 the gate
--       window (ms)
-- Returns {admitted, expired, id...}.
local now = tonumber(ARGV[1])
local c = redis.call('HMGET', KEYS[1], 'rate', 'max_active', 'session', 'sale_ms', 'paused', 'passthrough', 'closed', 'mode', 'adaptive',
  't_active', 't_new', 't_low')
if not c[3] then return {0, 0} end

-- Sessions that ran out free their max_active slot.
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 1000)
if #expired > 0 then
  redis.call('ZREM', KEYS[3], unpack(expired))
  redis.call('HDEL', KEYS[4], unpack(expired))
  forget_users(KEYS[12], KEYS[13], expired)
end

local b = redis.call('HMGET', KEYS[5], 'tokens', 'last')
local tokens = tonumber(b[1]) or 0
local last = tonumber(b[2]) or now
if last > now then now = last end -- another instance's clock ran ahead: never go back
local waiting = redis.call('ZCARD', KEYS[2])
-- A traffic-triggered room (trigger.go) goes quiet again once its line is
-- empty and its traffic under the low watermark of each threshold.
local ta, tn = tonumber(c[10] or 0) or 0, tonumber(c[11] or 0) or 0
if (ta > 0 or tn > 0) and waiting == 0 and redis.call('HGET', KEYS[6], 'trig') == 'queueing' then
  local low = (tonumber(c[12] or 0) or 0) / 100
  if low <= 0 then low = 0.8 end
  local w = tonumber(ARGV[4])
  local rate = tonumber(redis.call('GET', KEYS[14]) or 0) + tonumber(redis.call('GET', KEYS[15]) or 0) * (1 - (now % w) / w)
  if (ta == 0 or redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf') < ta * low) and (tn == 0 or rate < tn * low) then
    redis.call('HSET', KEYS[6], 'trig', 'quiet', 'trig_ms', now)
  end
end
local n = 0
-- A random_prequeue room admits nobody until its draw is done, even past
-- sale_starts_at: the head of the line is still the earliest joiners.
local undrawn = c[8] == 'random_prequeue' and redis.call('HGET', KEYS[9], 'state') ~= 'done'
if c[7] == '1' or c[5] == '1' or now < tonumber(c[4] or 0) or undrawn then
  tokens = 0 -- nothing accrues while nobody may enter, so a resume is not a burst
elseif c[6] == '1' then
  n = waiting
else
  local rate = tonumber(c[1])
  if c[9] == '1' then
    -- Adaptive admission: the controller's rate, never above the
    -- organizer's (queue/adaptive.go).
    local a = tonumber(redis.call('HGET', KEYS[10], 'rate')) or adaptive_start(KEYS[1], KEYS[10], KEYS[11], now)
    rate = math.min(rate, a)
  end
  local burst = math.max(1, rate / 30) -- two seconds' worth smooths over a late tick
  tokens = math.min(burst, tokens + (now - last) * rate / 60000)
  n = math.floor(tokens)
  local cap = tonumber(c[2])
  if cap == 0 then cap = ta end -- a triggered room's cap is its threshold
  if cap > 0 then
    local free = cap - redis.call('ZCARD', KEYS[3])
    if free < n then n = math.max(free, 0) end
  end
end
n = math.min(n, waiting, tonumber(ARGV[2]))
if c[6] ~= '1' then tokens = tokens - n end
redis.call('HSET', KEYS[5], 'tokens', string.format('%.6f', tokens), 'last', string.format('%d', now))
if n <= 0 then return {0, #expired} end

local popped = redis.call('ZPOPMIN', KEYS[2], n)
local exp = now + tonumber(c[3]) * 1000
local zargs, hargs, ids = {}, {}, {n, #expired}
for i = 1, #popped, 2 do
  zargs[#zargs + 1] = exp
  zargs[#zargs + 1] = popped[i]
  hargs[#hargs + 1] = popped[i]
  hargs[#hargs + 1] = now
  ids[#ids + 1] = popped[i]
end
redis.call('ZADD', KEYS[3], unpack(zargs))
redis.call('HSET', KEYS[4], unpack(hargs))
redis.call('HINCRBY', KEYS[6], 'admitted_total', n)
-- Everything at or below the head score has now left the line: one number
-- tells every instance how the front moved (see queue/doc.go).
local head = popped[#popped]
redis.call('HSET', KEYS[6], 'head', head)
count_admissions(KEYS[7], now, n)
log_append(KEYS[6], KEYS[8], ARGV[3], 'h', head)
return ids
