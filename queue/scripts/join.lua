-- join: find the caller's place, or (ARGV[4] == '1') make a new one.
-- KEYS: 1 cfg, 2 line, 3 seq, 4 active, 5 admitted-at, 6 heartbeat bitmap
--       (this epoch), 7 stats, 8 rate ring, 9 log, 10 fair; the gate's
--       (gate.go): 11 challenge used mark, 12/13 new places per address this
--       and last window (hash), 14/15 per prefix (zset), 16/17 the room's,
--       18 the address's live places; 19 users (user id → queue id), 20 owners (queue id →
--       user id): one place per user id (enqueue tokens); 21 access codes
--       (codes.go), 22/23 wrong codes per address this and last window (hash)
-- ARGV: 1 now (ms), 2 queue id from the caller's token or '', 3 heartbeat
--       bitmap ttl (s), 4 '1' to create a place when there is none, 5 log
--       length, 6 address ('' = not counted), 7 its prefix, 8 solved
--       challenge id or '', 9 its bits, 10 its expiry (ms), 11 the user id
--       of a verified enqueue token or '', 12 the hashed access code or '',
--       13 '1' to make the place only if it is admitted on arrival
-- A user id's live place is the caller's, whatever the queue token says
-- (a second device gets the same place); a queue token's place is the
-- caller's unless another user id holds it; a new place takes the user id.
-- Returns {kind, id, a, b, closed, user id or ''}:
--   'w' waiting: a = position, b = 1 while a random_prequeue room has not
--       drawn yet (the position is the join order, not the drawn place);
--   'a' admitted: a = expires (ms), b = admitted at (ms)
--   'c' closed (no place made); 'e' queue not open yet; 'n' no such place
--   (create off); 'r' no such room; 'f' a random_prequeue room has no
--   commitment yet: make one (fair.lua commit) and ask again, so nobody
--   joins a pre-queue before its seed is committed; 's' (ARGV[13]) the
--   place would not be admitted on arrival: none was made.
--   Refusals of a new place by the gate, nothing changed but the refusal
--   count: {'q', bits} solve a challenge of that many bits; {'u'} the
--   challenge was used already; {'l', retry ms} too many new places from the
--   address; {'m', retry ms} too many live places of the address; {'k'} the
--   room needs an enqueue token for a new place; {'x'} the room needs an
--   access code; {'b'} the access code is wrong or used up.
local now = tonumber(ARGV[1])
local cfg = redis.call('HMGET', KEYS[1], 'session', 'closed', 'passthrough', 'opens_ms', 'mode', 'sale_ms',
  'rate', 'challenge', 'ch_bits', 'ip_rate', 'ip_live', 'enq', 'code_req', 't_active', 't_new', 'paused')
if not cfg[1] then return {'r'} end
local closed = cfg[2] == '1' and 1 or 0
local random = cfg[5] == 'random_prequeue'
local fair = false -- the draw's state in a random_prequeue room
if random then fair = redis.call('HGET', KEYS[10], 'state') end
local undrawn = (random and fair ~= 'done') and 1 or 0

-- found is the reply for place qid, held by user id uid (nil: not looked
-- up yet; a waiter's status needs none, an admission's token does), or nil
-- when the place has ended.
local function found(qid, uid)
  local rank = redis.call('ZRANK', KEYS[2], qid)
  if rank then
    redis.call('SETBIT', KEYS[6], tonumber(qid, 36), 1)
    redis.call('EXPIRE', KEYS[6], ARGV[3])
    return {'w', qid, rank + 1, undrawn, closed, uid or ''}
  end
  local exp = redis.call('ZSCORE', KEYS[4], qid)
  if exp and tonumber(exp) > now then
    if uid == nil then uid = redis.call('HGET', KEYS[20], qid) or '' end
    return {'a', qid, tonumber(exp), tonumber(redis.call('HGET', KEYS[5], qid) or now), closed, uid}
  end
  return nil
end
local id, user = ARGV[2], ARGV[11]
if user ~= '' then
  local held = redis.call('HGET', KEYS[19], user)
  if held then
    local r = found(held, user)
    if r then return r end
    -- Ended, and not swept yet (a closed room's admissions expire unswept).
    redis.call('HDEL', KEYS[19], user)
    redis.call('HDEL', KEYS[20], held)
  end
end
if id ~= '' then
  local owner = nil
  if user ~= '' then owner = redis.call('HGET', KEYS[20], id) end
  if user == '' or not owner or owner == user then
    local r = found(id, owner or nil)
    if r then
      if user ~= '' and not owner then
        -- A place made without a token becomes the user's.
        redis.call('HSET', KEYS[19], user, id)
        redis.call('HSET', KEYS[20], id, user)
        r[6] = user
      end
      return r
    end
  end
end
if ARGV[4] ~= '1' then return {'n'} end
if closed == 1 then return {'c'} end
if now < tonumber(cfg[4] or 0) then return {'e'} end
local presale = random and now < tonumber(cfg[6] or 0)
if presale and not fair then return {'f'} end

-- The gate (gate.go). Every refusal comes before the first write.
local addr, prefix = ARGV[6], ARGV[7]
local elapsed = (now % G.window) / G.window
local function refuse(reason, ...)
  redis.call('HINCRBY', KEYS[7], 'refused:' .. reason, 1)
  return {...}
end
-- setting is a room's number, or the default when unset or 0.
local function setting(v, default)
  local n = tonumber(v or 0) or 0
  if n <= 0 then return default end
  return n
end
local function windowed(cur, prev, member)
  return tonumber(redis.call('ZSCORE', cur, member) or 0) + tonumber(redis.call('ZSCORE', prev, member) or 0) * (1 - elapsed)
end
local function alive(qid)
  if redis.call('ZSCORE', KEYS[2], qid) then return true end
  local exp = redis.call('ZSCORE', KEYS[4], qid)
  return exp and tonumber(exp) > now
end
if cfg[12] == '1' and user == '' then return refuse('bad_enqueue_token', 'k') end
-- Access codes: an address that tried too many wrong ones is refused before
-- any code is looked at; a wrong one is counted against its address.
local code = ARGV[12]
if cfg[13] == '1' then
  if code == '' then return refuse('bad_code', 'x') end
  if addr ~= '' then
    local bad = tonumber(redis.call('HGET', KEYS[22], addr) or 0) + tonumber(redis.call('HGET', KEYS[23], addr) or 0) * (1 - elapsed)
    if bad >= G.bad_codes then
      return refuse('rate_limited', 'l', math.max(1000, G.window - (now % G.window)))
    end
  end
  if tonumber(redis.call('HGET', KEYS[21], code) or 0) <= 0 then
    if addr ~= '' and redis.call('HINCRBY', KEYS[22], addr, 1) == 1 then redis.call('PEXPIRE', KEYS[22], 2 * G.window) end
    return refuse('bad_code', 'b')
  end
end
-- The room's surge weighs on counted addresses only: loopback (the box
-- itself) and bypassed networks meet a challenge only when it is "always".
local pressure = 0
if addr ~= '' then
  local roomRate = tonumber(redis.call('GET', KEYS[16]) or 0) + tonumber(redis.call('GET', KEYS[17]) or 0) * (1 - elapsed)
  pressure = math.min(roomRate / math.max(G.surge_floor, G.surge_factor * tonumber(cfg[7] or 0)), G.surge_max)
end
-- recent: the address joined within the last two windows, so its live
-- places are tracked (an address that joins at most once in two minutes is
-- not: at most 30 places an hour go uncounted, and most fans join once).
local recent = false
if addr ~= '' then
  local cur, prev = tonumber(redis.call('HGET', KEYS[12], addr) or 0), tonumber(redis.call('HGET', KEYS[13], addr) or 0)
  local addrRate = cur + prev * (1 - elapsed)
  recent = cur + prev > 0
  local limit = setting(cfg[10], G.ip_rate)
  if addrRate + 1 > limit then
    -- Until enough of the last window has slid out of the minute.
    return refuse('rate_limited', 'l', math.max(1000, G.window - (now % G.window)))
  end
  local live, cap = 0, setting(cfg[11], G.ip_live)
  if recent then
    live = redis.call('ZCARD', KEYS[18])
    if live >= math.min(G.live, cap) then
      for _, qid in ipairs(redis.call('ZRANGE', KEYS[18], 0, G.prune - 1)) do
        if not alive(qid) then redis.call('ZREM', KEYS[18], qid) end
      end
      live = redis.call('ZCARD', KEYS[18])
    end
  end
  if live + 1 > cap then
    return refuse('place_cap', 'm', 60000)
  end
  pressure = math.max(pressure, addrRate / G.addr, windowed(KEYS[14], KEYS[15], prefix) / G.prefix, live / G.live)
end
local mode = cfg[8] or 'auto'
local solved = ARGV[8] ~= ''
if mode == 'always' or (mode ~= 'off' and pressure >= 1) then
  local base = setting(cfg[9], G.bits)
  local bits, p = base, pressure
  while p >= 2 and bits < G.max_bits and bits - base < G.extra do
    bits, p = bits + 1, p / 2
  end
  if not solved or tonumber(ARGV[9]) < bits - 1 then return refuse('challenge_required', 'q', bits) end
end
if solved then
  -- Used once: the mark lives until the challenge expires anyway.
  if not redis.call('SET', KEYS[11], '1', 'NX', 'PX', math.max(1, tonumber(ARGV[10]) - now)) then
    return refuse('challenge_failed', 'u')
  end
end

-- A traffic-triggered room (trigger.go) admits on arrival while it is
-- quiet and under both thresholds (this join counted); the join that finds
-- one reached turns it to queueing and queues, or, asking to pass only
-- (ARGV[13]), is refused with nothing made.
local pass = cfg[3] == '1'
local ta, tn = tonumber(cfg[14] or 0) or 0, tonumber(cfg[15] or 0) or 0
if (ta > 0 or tn > 0) and redis.call('HGET', KEYS[7], 'trig') ~= 'queueing' then
  local rate = tonumber(redis.call('GET', KEYS[16]) or 0) + 1 + tonumber(redis.call('GET', KEYS[17]) or 0) * (1 - elapsed)
  if cfg[16] ~= '1' and (ta == 0 or redis.call('ZCOUNT', KEYS[4], '(' .. now, '+inf') < ta) and (tn == 0 or rate <= tn) then
    pass = true
  else
    redis.call('HSET', KEYS[7], 'trig', 'queueing', 'trig_ms', now)
  end
end
if ARGV[13] == '1' and not pass then return {'s'} end
local seq = redis.call('INCR', KEYS[3])
id = b36(seq)
-- Count the new place: the room's and the address's counts for this window
-- (each key expires a window after it ends), and the prefix's in a sorted
-- set for the busiest prefixes, its least busy half dropped past G.members.
if user ~= '' then
  redis.call('HSET', KEYS[19], user, id)
  redis.call('HSET', KEYS[20], id, user)
end
if cfg[13] == '1' then
  redis.call('HINCRBY', KEYS[21], code, -1)
  redis.call('HINCRBY', KEYS[21], '#left', -1)
  redis.call('HINCRBY', KEYS[21], '#used', 1)
end
local joined = redis.call('INCR', KEYS[16])
if joined == 1 then redis.call('PEXPIRE', KEYS[16], 2 * G.window) end
if addr ~= '' then
  if redis.call('HINCRBY', KEYS[12], addr, 1) == 1 then redis.call('PEXPIRE', KEYS[12], 2 * G.window) end
  if tonumber(redis.call('ZINCRBY', KEYS[14], 1, prefix)) == 1 then redis.call('PEXPIRE', KEYS[14], 2 * G.window) end
  if joined % 1024 == 0 then
    local n = redis.call('ZCARD', KEYS[14])
    if n > G.members then redis.call('ZREMRANGEBYRANK', KEYS[14], 0, n - G.members / 2 - 1) end
  end
  if recent then
    redis.call('ZADD', KEYS[18], seq, id)
    redis.call('PEXPIRE', KEYS[18], G.live_ttl)
  end
end
if presale and fair == 'open' then
  -- The draw's cutoff: the last sequence number that joined before the
  -- sale. Frozen once the draw begins (the state leaves 'open').
  redis.call('HSET', KEYS[10], 'cutoff', seq)
end
if pass then
  -- Passthrough: no line, admitted on arrival, still counted as active so
  -- the same person asking again gets the same admission.
  local exp = now + tonumber(cfg[1]) * 1000
  redis.call('ZADD', KEYS[4], exp, id)
  redis.call('HSET', KEYS[5], id, now)
  redis.call('HINCRBY', KEYS[7], 'admitted_total', 1)
  count_admissions(KEYS[8], now, 1)
  -- The sequence number never joined the line: trackers must count it gone.
  log_append(KEYS[7], KEYS[9], ARGV[5], 'r', seq)
  return {'a', id, exp, now, 0, user}
end
redis.call('ZADD', KEYS[2], seq, id)
redis.call('SETBIT', KEYS[6], seq, 1)
redis.call('EXPIRE', KEYS[6], ARGV[3])
return {'w', id, redis.call('ZCARD', KEYS[2]), undrawn, 0, user}
