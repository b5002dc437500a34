-- A visitor gives their hold back. A pending order on it is canceled.
-- ARGV: now, hold id, visitor ('' = the organizer, who may release any).
-- Returns {'ok'} or {'err', code}: not_found also for another visitor's hold,
-- so hold ids cannot be probed; gone for a hold that already ended.
local now, id, visitor = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local h = hgetall(hold_key(id))
if not h or (visitor ~= '' and h.visitor ~= visitor) then return {'err', 'not_found'} end
if not live(h) then return {'err', 'gone', h.state} end
if tonumber(h.expires) <= now then
  expire(h, now)
  return {'err', 'gone', 'expired'}
end
local was = h.state
end_hold(h, 'released', 'avail', now)
redis.call('HINCRBY', K.stats, 'released', 1)
log_event(now, 'hold.released', visitor ~= '' and visitor or 'organizer', {'hold', id, 'type', h.type, 'qty', h.qty})
if was == 'checkout' and h.order and h.order ~= '' then
  local ok = order_key(h.order)
  if redis.call('HGET', ok, 'status') == 'pending_payment' then
    redis.call('HSET', ok, 'status', 'canceled', 'updated', now)
    log_event(now, 'order.canceled', visitor ~= '' and visitor or 'organizer', {'order', h.order, 'hold', id})
  end
end
return {'ok'}
