-- Shared helpers, prepended to every booking script by booking/scripts.go.
--
-- KEYS[1] is always the event's cfg key, "cgb:{ev:<event>}:cfg". Every other
-- key a script touches is built from the same prefix, so it carries the same
-- hash tag and lives in the same Redis Cluster slot: the script is atomic
-- over the event, and it runs unchanged on a cluster.
local P = string.sub(KEYS[1], 1, -4)
local K = {
  cfg = KEYS[1], inv = P .. 'inv', byuser = P .. 'vh', expiry = P .. 'exp',
  warn = P .. 'warn', pend = P .. 'pend', refunds = P .. 'refund',
  outbox = P .. 'outbox', log = P .. 'log', stats = P .. 'st', buyers = P .. 'buy',
}
local function hold_key(id) return P .. 'hold:' .. id end
local function order_key(id) return P .. 'order:' .. id end

-- The event log is bounded approximately. The outbox is not: a length cap
-- could drop messages still pending under a large backlog, so the
-- notify.Notifier that delivers it trims it by age instead.
local LOG_MAX = 1000000

-- hgetall returns a hash as a table, or nil when the key does not exist.
local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then return nil end
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

-- log_event appends one state change to the event log: who, what, when.
local function log_event(now, what, who, fields)
  local args = {'XADD', K.log, 'MAXLEN', '~', LOG_MAX, '*', 'at', now, 'what', what, 'who', who}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call(unpack(args))
end

-- notify appends one notification to the outbox, in the same script as the
-- change it reports, so the two cannot come apart. Its fields are
-- notify.Message's (notify/message.go); K.outbox is booking.Outbox's
-- notify.Stream.Outbox().
local function notify(now, kind, h, order_id)
  redis.call('XADD', K.outbox, '*',
    'kind', kind, 'event', h.event, 'order', order_id or '', 'hold', h.id,
    'email', h.email or '', 'phone', h.phone or '',
    'amount_minor', h.amount, 'currency', h.cur, 'at', now)
end

-- move shifts n tickets of type t between the inventory counters (avail,
-- held, sold); each move keeps their sum, so avail + held + sold == cap.
local function move(t, from, to, n)
  redis.call('HINCRBY', K.inv, t .. ':' .. from, -n)
  redis.call('HINCRBY', K.inv, t .. ':' .. to, n)
end

-- Each buyer (the admission's visitor, "v:<visitor>", or the site's user
-- id, "u:<user>", when the hold named one) has a count in K.buyers of the
-- tickets committed to them at this event: in live holds and in paid
-- orders. A hold records its buyer, so whatever ends it gives the tickets
-- back to the same count; a hold made before the counts existed has no
-- buyer and counts for nobody. A count that reaches 0 is deleted, so the
-- hash holds only buyers with tickets.

-- admission_limit is the most tickets one buyer may commit at this event:
-- the event's per_admission_limit, or, for an event stored before it
-- existed, the largest per-order limit of its types (what PutEvent
-- defaults it to).
local function admission_limit(cfg)
  local n = tonumber(cfg.plimit)
  if n then return n end
  n = 0
  for t in string.gmatch(cfg.types or '', '[^,]+') do
    n = math.max(n, tonumber(redis.call('HGET', K.inv, t .. ':limit') or '0'))
  end
  return n
end

local function taken(buyer)
  return tonumber(redis.call('HGET', K.buyers, buyer) or '0')
end

-- take adds n tickets to a buyer's count; give_back removes them.
local function take(buyer, n)
  if buyer and buyer ~= '' then redis.call('HINCRBY', K.buyers, buyer, n) end
end

local function give_back(buyer, n)
  if not buyer or buyer == '' then return end
  if redis.call('HINCRBY', K.buyers, buyer, -n) <= 0 then
    redis.call('HDEL', K.buyers, buyer)
  end
end

-- end_hold takes a live hold (active or checkout) off the books: its
-- tickets go from held to `to` (avail or sold), and the visitor may hold
-- again. Tickets that go back to avail go back to the buyer's count too;
-- sold ones stay counted, in the paid order.
local function end_hold(h, state, to, now)
  move(h.type, 'held', to, tonumber(h.qty))
  if to == 'avail' then give_back(h.buyer, tonumber(h.qty)) end
  redis.call('HSET', hold_key(h.id), 'state', state, 'ended', now)
  h.state = state
  redis.call('ZREM', K.expiry, h.id)
  redis.call('ZREM', K.warn, h.id)
  if redis.call('HGET', K.byuser, h.visitor) == h.id then
    redis.call('HDEL', K.byuser, h.visitor)
  end
end

local function live(h) return h.state == 'active' or h.state == 'checkout' end

-- expire ends a hold whose time is up; a pending order on it expires too
-- (its payment may still land: payment.lua handles that).
local function expire(h, now)
  local was = h.state
  end_hold(h, 'expired', 'avail', now)
  redis.call('HINCRBY', K.stats, 'expired', 1)
  log_event(now, 'hold.expired', 'system', {'hold', h.id, 'type', h.type, 'qty', h.qty})
  if was == 'checkout' and h.order and h.order ~= '' then
    local ok = order_key(h.order)
    if redis.call('HGET', ok, 'status') == 'pending_payment' then
      redis.call('HSET', ok, 'status', 'expired', 'updated', now)
      log_event(now, 'order.expired', 'system', {'order', h.order, 'hold', h.id})
      notify(now, 'order.expired', h, h.order)
    end
  end
end
