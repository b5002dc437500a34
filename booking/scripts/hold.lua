-- Take tickets for one admitted visitor, all or nothing.
-- ARGV: now, visitor, ticket type, quantity, new hold id, admission expiry
--       (ms), idempotency key ('' = none), idempotency ttl (s), email, phone,
--       the admission's room, the site's user id ('' = none).
-- Checks, in order: idempotent replay, the event, the admission's expiry,
-- the ticket type, the per-order limit, the visitor's one live hold, the
-- buyer's per-admission limit, the inventory. The buyer is the user id
-- when there is one, else the visitor; their count (K.buyers, see
-- prelude.lua) is tickets in live holds and paid orders, checked and
-- taken here in the same step as the tickets, so no race of holds, on any
-- number of instances, takes a buyer past the limit. A visitor's hold whose time is up is expired here rather than
-- waiting for the sweeper.
-- With an idempotency key, the first answer is the answer: a hold is
-- replayed as {'replay', hold id}, and a refusal of the sale itself
-- (unknown type, over a limit, a live hold, sold out) is refused again
-- the same way, even if tickets came back meanwhile. Refusals of the
-- request's standing (no event, admission over, another room) are not
-- kept: they say nothing about the sale.
-- Returns {'ok', hold id, expires, price, amount, currency}, {'replay', hold
-- id}, or {'err', code, detail}.
local now = tonumber(ARGV[1])
local visitor, t, qty, id = ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local adm_exp, idem, idem_ttl = tonumber(ARGV[6]), ARGV[7], ARGV[8]

-- A deleted event replays nothing: its idempotency keys may outlive it
-- for a moment (delevent.lua).
if redis.call('EXISTS', K.cfg) == 0 then return {'err', 'no_event', ''} end
local idem_key = P .. 'idem:' .. visitor .. ':' .. idem
if idem ~= '' then
  local prev = redis.call('GET', idem_key)
  if prev then
    local code, detail = string.match(prev, '^!([%w_]+):(.*)$')
    if code then return {'err', code, detail} end
    return {'replay', prev}
  end
end
local function refuse(code, detail)
  if idem ~= '' then redis.call('SET', idem_key, '!' .. code .. ':' .. detail, 'EX', idem_ttl) end
  return {'err', code, detail}
end
local cfg = hgetall(K.cfg)
if not cfg then return {'err', 'no_event', ''} end
if adm_exp <= now then return {'err', 'admission_expired', ''} end
if ARGV[11] ~= cfg.room then return {'err', 'wrong_room', cfg.room} end
local cap = redis.call('HGET', K.inv, t .. ':cap')
if not cap then return refuse('unknown_type', t) end
local limit = tonumber(redis.call('HGET', K.inv, t .. ':limit'))
if qty > limit then return refuse('over_limit', tostring(limit)) end

local prev = redis.call('HGET', K.byuser, visitor)
if prev then
  local h = hgetall(hold_key(prev))
  if h and live(h) then
    if tonumber(h.expires) > now then return refuse('hold_exists', prev) end
    expire(h, now)
  else
    redis.call('HDEL', K.byuser, visitor)
  end
end
local buyer = ARGV[12] ~= '' and 'u:' .. ARGV[12] or 'v:' .. visitor
local most = admission_limit(cfg)
local left = math.max(most - taken(buyer), 0)
if qty > left then
  redis.call('HINCRBY', K.stats, 'limit_reached', 1)
  return refuse('limit_reached', left .. '/' .. most)
end
local avail = tonumber(redis.call('HGET', K.inv, t .. ':avail'))
if avail < qty then
  redis.call('HINCRBY', K.stats, 'sold_out', 1)
  return refuse('sold_out', tostring(avail))
end

local price = tonumber(redis.call('HGET', K.inv, t .. ':price'))
local amount = string.format('%d', price * qty)
local cur = redis.call('HGET', K.inv, t .. ':cur')
local expires = now + tonumber(cfg.hold_seconds) * 1000
move(t, 'avail', 'held', qty)
take(buyer, qty)
redis.call('HSET', hold_key(id), 'id', id, 'event', cfg.event, 'room', cfg.room,
  'visitor', visitor, 'buyer', buyer, 'type', t, 'qty', qty, 'price', price, 'amount', amount, 'cur', cur,
  'state', 'active', 'created', now, 'expires', expires, 'email', ARGV[9], 'phone', ARGV[10])
redis.call('HSET', K.byuser, visitor, id)
redis.call('ZADD', K.expiry, expires, id)
-- Warn a quarter of the hold time before it ends, at most two minutes before.
local lead = math.min(120000, tonumber(cfg.hold_seconds) * 250)
redis.call('ZADD', K.warn, expires - lead, id)
redis.call('HINCRBY', K.stats, 'holds', 1)
log_event(now, 'hold.created', visitor, {'hold', id, 'type', t, 'qty', qty})
if idem ~= '' then redis.call('SET', idem_key, id, 'EX', idem_ttl) end
return {'ok', id, string.format('%d', expires), string.format('%d', price), amount, cur}
