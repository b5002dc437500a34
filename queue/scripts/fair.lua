-- fair: the random_prequeue draw's state in cg:{r}:fair (see queue/doc.go,
-- "The pre-queue draw"). ARGV[1] names the step; every step checks the
-- state it expects, so any number of instances may call any step.
-- KEYS: 1 fair, 2 cfg, 3 seq, 4 line, 5 stats, 6 log
--
-- commit  ARGV: 2 seed (hex), 3 commitment (hex), 4 now (ms)
--   Stores the seed and its commitment unless there is one. Returns
--   {'ok', commitment} (the stored one), or {'r'} no room, {'m'} not
--   random_prequeue, {'e'} the queue is not open yet.
-- begin   ARGV: 2 now (ms), 3 drawer token, 4 lease (ms)
--   Takes the draw (compare-and-set open → drawing, or a drawing whose
--   lease ran out). Returns {'go', seed, cutoff, base, ids, recorded}
--   (recorded = 1 once the participants are), or {'r'}, {'m'}, {'n'} no
--   commitment yet, {'done'}, {'e'} before sale_starts_at, {'busy'}
--   another instance is drawing.
-- list    ARGV: 2 drawer token, 3 ids (space-separated), 4 now, 5 lease
--   Records the participants once. Returns 1, or 0 when the draw is no
--   longer this drawer's.
-- place   ARGV: 2 drawer token, 3 now, 4 lease, 5.. score, id pairs
--   Moves participants to their drawn scores (ZADD XX: one who left stays
--   gone). Returns 1, or 0 when the draw is no longer this drawer's.
-- finish  ARGV: 2 drawer token, 3 now, 4 log length, 5 participants
--   Marks the draw done and appends the reset entry that makes every
--   position tracker rebuild. Returns 1, or 0.
local op = ARGV[1]

local function mine(token)
  local f = redis.call('HMGET', KEYS[1], 'state', 'drawer')
  return f[1] == 'drawing' and f[2] == token
end

if op == 'commit' then
  local cfg = redis.call('HMGET', KEYS[2], 'mode', 'opens_ms', 'sale_ms')
  if not cfg[1] then return {'r'} end
  if cfg[1] ~= 'random_prequeue' then return {'m'} end
  local now = tonumber(ARGV[4])
  if now < tonumber(cfg[2] or 0) then return {'e'} end
  local cur = redis.call('HGET', KEYS[1], 'commitment')
  if cur then return {'ok', cur} end
  -- Everyone who joined so far joined before now; if that is before the
  -- sale starts, they are in the pre-queue.
  local cutoff = 0
  if now < tonumber(cfg[3] or 0) then cutoff = tonumber(redis.call('GET', KEYS[3]) or 0) end
  redis.call('HSET', KEYS[1], 'state', 'open', 'seed', ARGV[2], 'commitment', ARGV[3],
    'committed_ms', ARGV[4], 'cutoff', cutoff)
  return {'ok', ARGV[3]}
end

if op == 'begin' then
  local cfg = redis.call('HMGET', KEYS[2], 'mode', 'sale_ms')
  if not cfg[1] then return {'r'} end
  if cfg[1] ~= 'random_prequeue' then return {'m'} end
  local f = redis.call('HMGET', KEYS[1], 'state', 'seed', 'cutoff', 'base', 'drawer', 'until')
  if not f[1] then return {'n'} end
  if f[1] == 'done' then return {'done'} end
  local now = tonumber(ARGV[2])
  if now < tonumber(cfg[2] or 0) then return {'e'} end
  if f[1] == 'drawing' and f[5] ~= ARGV[3] and tonumber(f[6] or 0) > now then return {'busy'} end
  -- Nobody is admitted before the draw is done, so the head does not move
  -- while it runs; a drawer taking over keeps the first one's base.
  local base = f[4] or redis.call('HGET', KEYS[5], 'head') or '0'
  redis.call('HSET', KEYS[1], 'state', 'drawing', 'drawer', ARGV[3],
    'until', now + tonumber(ARGV[4]), 'base', base)
  local ids = redis.call('HGET', KEYS[1], 'ids')
  return {'go', f[2], f[3], base, ids or '', ids and 1 or 0}
end

if op == 'list' then
  if not mine(ARGV[2]) or redis.call('HEXISTS', KEYS[1], 'ids') == 1 then return 0 end
  redis.call('HSET', KEYS[1], 'ids', ARGV[3], 'until', tonumber(ARGV[4]) + tonumber(ARGV[5]))
  return 1
end

if op == 'place' then
  if not mine(ARGV[2]) then return 0 end
  if #ARGV > 4 then redis.call('ZADD', KEYS[4], 'XX', unpack(ARGV, 5)) end
  redis.call('HSET', KEYS[1], 'until', tonumber(ARGV[3]) + tonumber(ARGV[4]))
  return 1
end

if op == 'finish' then
  if not mine(ARGV[2]) then return 0 end
  redis.call('HSET', KEYS[1], 'state', 'done', 'drawn_ms', ARGV[3], 'participants', ARGV[5])
  redis.call('HDEL', KEYS[1], 'drawer', 'until')
  log_append(KEYS[5], KEYS[6], ARGV[4], 'reset', 'draw')
  return 1
end

return redis.error_reply('fair: unknown step ' .. tostring(op))
