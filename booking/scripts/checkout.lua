-- Turn a live hold into an order awaiting payment. The payment was started
-- with the provider just before; it is recorded here with the order.
-- ARGV: now, hold id, visitor, order id, provider, payment id, redirect url,
--       email, phone.
-- Returns {'ok', order id}, {'exists', order id} when the hold already has a
-- pending order, or {'err', code}.
local now, id, visitor, oid = tonumber(ARGV[1]), ARGV[2], ARGV[3], ARGV[4]
local h = hgetall(hold_key(id))
if not h or h.visitor ~= visitor then return {'err', 'not_found'} end
if not live(h) then
  return {'err', h.state == 'expired' and 'hold_expired' or 'gone', h.state}
end
if tonumber(h.expires) <= now then
  expire(h, now)
  return {'err', 'hold_expired', 'expired'}
end
if h.state == 'checkout' and redis.call('HGET', order_key(h.order), 'status') == 'pending_payment' then
  return {'exists', h.order}
end
local email = ARGV[8] ~= '' and ARGV[8] or h.email
local phone = ARGV[9] ~= '' and ARGV[9] or h.phone
redis.call('HSET', order_key(oid), 'id', oid, 'event', h.event, 'hold', id, 'visitor', visitor,
  'type', h.type, 'qty', h.qty, 'price', h.price, 'amount', h.amount, 'cur', h.cur,
  'status', 'pending_payment', 'provider', ARGV[5], 'payment', ARGV[6], 'redirect', ARGV[7],
  'created', now, 'updated', now, 'email', email, 'phone', phone)
redis.call('HSET', hold_key(id), 'state', 'checkout', 'order', oid, 'email', email, 'phone', phone)
redis.call('ZADD', K.pend, now, oid)
redis.call('HINCRBY', K.stats, 'checkouts', 1)
log_event(now, 'order.created', visitor, {'order', oid, 'hold', id, 'payment', ARGV[6], 'amount', h.amount})
return {'ok', oid}
