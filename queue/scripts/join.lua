-- join: find the caller's place, or (ARGV[4] == '1') make a new one.
-- KEYS: 1 cfg, 2 line, 3 seq, 4 active, 5 admitted-at, 6 heartbeat bitmap
--       (this epoch), 7 stats, 8 rate ring, 9 log, 10 fair
-- ARGV: 1 now (ms), 2 queue id from the caller's token or '', 3 heartbeat
--       bitmap ttl (s), 4 '1' to create a place when there is none, 5 log length
-- Returns {kind, id, a, b, closed}:
--   'w' waiting: a = position, b = 1 while a random_prequeue room has not
--       drawn yet (the position is the join order, not the drawn place);
--   'a' admitted: a = expires (ms), b = admitted at (ms)
--   'c' closed (no place made); 'e' queue not open yet; 'n' no such place
--   (create off); 'r' no such room; 'f' a random_prequeue room has no
--   commitment yet: make one (fair.lua commit) and ask again, so nobody
--   joins a pre-queue before its seed is committed.
local now = tonumber(ARGV[1])
local cfg = redis.call('HMGET', KEYS[1], 'session', 'closed', 'passthrough', 'opens_ms', 'mode', 'sale_ms')
if not cfg[1] then return {'r'} end
local closed = cfg[2] == '1' and 1 or 0
local random = cfg[5] == 'random_prequeue'
local fair = false -- the draw's state in a random_prequeue room
if random then fair = redis.call('HGET', KEYS[10], 'state') end
local undrawn = (random and fair ~= 'done') and 1 or 0

local id = ARGV[2]
if id ~= '' then
  local rank = redis.call('ZRANK', KEYS[2], id)
  if rank then
    redis.call('SETBIT', KEYS[6], tonumber(id, 36), 1)
    redis.call('EXPIRE', KEYS[6], ARGV[3])
    return {'w', id, rank + 1, undrawn, closed}
  end
  local exp = redis.call('ZSCORE', KEYS[4], id)
  if exp and tonumber(exp) > now then
    return {'a', id, tonumber(exp), tonumber(redis.call('HGET', KEYS[5], id) or now), closed}
  end
end
if ARGV[4] ~= '1' then return {'n'} end
if closed == 1 then return {'c'} end
if now < tonumber(cfg[4] or 0) then return {'e'} end
local presale = random and now < tonumber(cfg[6] or 0)
if presale and not fair then return {'f'} end

local seq = redis.call('INCR', KEYS[3])
id = b36(seq)
if presale and fair == 'open' then
  -- The draw's cutoff: the last sequence number that joined before the
  -- sale. Frozen once the draw begins (the state leaves 'open').
  redis.call('HSET', KEYS[10], 'cutoff', seq)
end
if cfg[3] == '1' then
  -- Passthrough: no line, admitted on arrival, still counted as active so
  -- the same person asking again gets the same admission.
  local exp = now + tonumber(cfg[1]) * 1000
  redis.call('ZADD', KEYS[4], exp, id)
  redis.call('HSET', KEYS[5], id, now)
  redis.call('HINCRBY', KEYS[7], 'admitted_total', 1)
  count_admissions(KEYS[8], now, 1)
  -- The sequence number never joined the line: trackers must count it gone.
  log_append(KEYS[7], KEYS[9], ARGV[5], 'r', seq)
  return {'a', id, exp, now, 0}
end
redis.call('ZADD', KEYS[2], seq, id)
redis.call('SETBIT', KEYS[6], seq, 1)
redis.call('EXPIRE', KEYS[6], ARGV[3])
return {'w', id, redis.call('ZCARD', KEYS[2]), undrawn, 0}
