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
