-- Shared helpers, prepended to every script by queue/scripts.go. Each script
-- touches only the keys it is given, all of one room (one hash tag), so it
-- runs unchanged on Redis Cluster.

-- b36 spells a sequence number as a queue id; strconv.FormatInt(n, 36) in Go.
local function b36(n)
  local digits = '0123456789abcdefghijklmnopqrstuvwxyz'
  local s = ''
  repeat
    local r = n % 36
    s = string.sub(digits, r + 1, r + 1) .. s
    n = math.floor(n / 36)
  until n == 0
  return s
end

-- count_admissions adds n to the per-second ring behind the observed
-- admission rate: field (second mod 60) holds "second:count".
local function count_admissions(key, now_ms, n)
  local sec = math.floor(now_ms / 1000)
  local field = tostring(sec % 60)
  local c = 0
  local v = redis.call('HGET', key, field)
  if v then
    local s, k = string.match(v, '^(%d+):(%d+)$')
    if tonumber(s) == sec then c = tonumber(k) end
  end
  redis.call('HSET', key, field, string.format('%d:%d', sec, c + n))
end

-- log_append adds one entry to the room's position log, numbered from the
-- stats hash so a reader can tell when it missed entries to trimming.
local function log_append(stats, log, maxlen, kind, value)
  local n = redis.call('HINCRBY', stats, 'logn', 1)
  redis.call('XADD', log, 'MAXLEN', '~', maxlen, '*', 'n', n, kind, value)
end

-- adaptive_log records one change of a room's adaptive rate, newest first,
-- keeping the last 50 (queue.AdaptiveDecisionsKept): "at from to reason".
local function adaptive_log(key, now_ms, from, to, why)
  redis.call('LPUSH', key, string.format('%d %s %s %s', now_ms, from, to, why))
  redis.call('LTRIM', key, 0, 49)
end

-- adaptive_start sets the adaptive rate of a room whose adaptive admission
-- was just switched on (or lost its state) to its conservative start: a
-- tenth of admit_per_minute, at least 1/min unless that is above it
-- (queue.AdaptiveStart). Returns the rate.
local function adaptive_start(cfg, adapt, alog, now_ms)
  local cap = tonumber(redis.call('HGET', cfg, 'rate')) or 0
  local rate = string.format('%.3f', math.max(cap * 0.1, math.min(cap, 1)))
  local why = 'adaptive admission on: start at 10% of the organizer\'s rate'
  redis.call('DEL', adapt)
  redis.call('HSET', adapt, 'rate', rate, 'at', string.format('%d', now_ms), 'why', why)
  adaptive_log(alog, now_ms, string.format('%.3f', cap), rate, why)
  return tonumber(rate)
end

-- forget_users ends the user ids of places that ended (enqueue tokens,
-- gate.go): owners maps queue id → user id, users user id → queue id. A
-- user id is dropped only while it still names that place.
local function forget_users(users, owners, ids)
  if #ids == 0 or redis.call('EXISTS', owners) == 0 then return end
  local uids = redis.call('HMGET', owners, unpack(ids))
  for i = 1, #ids do
    local u = uids[i]
    if u and redis.call('HGET', users, u) == ids[i] then redis.call('HDEL', users, u) end
  end
  redis.call('HDEL', owners, unpack(ids))
end
