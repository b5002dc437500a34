-- Apply one payment outcome, from a verified webhook or the reconciler.
-- ARGV: now, provider, provider event id, outcome (succeeded|failed),
--       payment id, order id, seen ttl (s).
-- Each provider event id is applied once: it is remembered for the ttl.
-- A success on a live order sells the held tickets. A success on an order
-- that expired or was canceled meanwhile takes the tickets again if they
-- are still available and within the buyer's per-admission limit, else
-- the order is refunded: never an oversell, never past the limit.
-- Returns {'ok', what} or {'err', code}; what is duplicate, paid, paid_late,
-- refunded, failed or ignored (an outcome for an order already settled).
local now, provider, evid, outcome = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local pid, oid, ttl = ARGV[5], ARGV[6], ARGV[7]
-- A deleted event's orders may outlive it for a moment (delevent.lua):
-- they take no payment, lest a refund be owed where nobody looks.
if redis.call('EXISTS', K.cfg) == 0 then return {'err', 'not_found'} end
local ok = order_key(oid)
local o = hgetall(ok)
if not o or o.payment ~= pid or o.provider ~= provider then return {'err', 'not_found'} end
local seen = P .. 'wh:' .. provider .. ':' .. evid
if not redis.call('SET', seen, now, 'NX', 'EX', ttl) then
  redis.call('HINCRBY', K.stats, 'webhook_duplicates', 1)
  return {'ok', 'duplicate'}
end
local h = hgetall(hold_key(o.hold))
-- The notification shape wants the hold's contact and amount; the order
-- holds the latest contact.
h.email, h.phone = o.email, o.phone
local who = provider
local function settle(status, what)
  redis.call('HSET', ok, 'status', status, 'updated', now, 'payment_event', evid)
  redis.call('ZREM', K.pend, oid)
  redis.call('HINCRBY', K.stats, what, 1)
  log_event(now, 'order.' .. what, who, {'order', oid, 'payment', pid, 'event_id', evid})
end

if outcome == 'failed' then
  if o.status ~= 'pending_payment' then
    -- A failure after the order settled or expired changes nothing, but
    -- stop asking the provider about it.
    redis.call('ZREM', K.pend, oid)
    return {'ok', 'ignored'}
  end
  settle('failed', 'failed')
  -- The fan may try again while the hold lasts.
  if h.state == 'checkout' and h.order == oid then
    redis.call('HSET', hold_key(h.id), 'state', 'active')
  end
  notify(now, 'payment.failed', h, oid)
  return {'ok', 'failed'}
end

if o.status == 'paid' or o.status == 'refunded' then return {'ok', 'ignored'} end
if live(h) and h.order == oid and tonumber(h.expires) <= now then
  expire(h, now) -- its time was up: the payment is late
end
if live(h) and h.order == oid then
  -- The hold still has the tickets: the order was waiting for this, or
  -- it failed and the payment went through after all.
  end_hold(h, 'paid', 'sold', now)
  redis.call('HSET', ok, 'paid', now)
  settle('paid', 'paid')
  notify(now, 'order.paid', h, oid)
  return {'ok', 'paid'}
end
-- Late: the hold ended (expired or released), and its tickets went back
-- to the buyer's count. Take the tickets again if they are there and the
-- buyer's limit still has room for them, unless the hold is live or paid
-- through a newer order: that would charge the fan twice.
local q = tonumber(o.qty)
local avail = tonumber(redis.call('HGET', K.inv, o.type .. ':avail') or '0')
local within = not h.buyer or taken(h.buyer) + q <= admission_limit(hgetall(K.cfg) or {})
if not live(h) and h.state ~= 'paid' and avail >= q and within then
  move(o.type, 'avail', 'sold', q)
  take(h.buyer, q)
  redis.call('HSET', ok, 'paid', now, 'late', 1)
  settle('paid', 'paid_late')
  notify(now, 'order.paid', h, oid)
  return {'ok', 'paid_late'}
end
redis.call('HSET', ok, 'refund', 'requested')
redis.call('ZADD', K.refunds, now, oid)
settle('refunded', 'refunded')
notify(now, 'order.refunded', h, oid)
return {'ok', 'refunded'}
