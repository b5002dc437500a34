-- Delete an event, unless that would lose something it owes: a paid order
-- (tickets sold), a live hold (tickets held), a payment that may still land
-- (an order in K.pend: pending, or expired or canceled while its payment
-- was under way, for up to a day) or a refund not yet confirmed (K.refunds).
-- The check and the delete are this one step over the event's slot, so no
-- hold, checkout or payment can slip in between.
-- Deleting removes the definition and every key of a fixed name, and
-- leaves the mark P..'gone': putevent.lua will not create the event again
-- while it is there, so the keys named by id (holds, orders, idempotency
-- keys, webhook ids, delivery marks), which Go finds by SCAN and removes
-- after this (purgeevent.lua), cannot be confused with a new event's.
-- ARGV: now.
-- Returns {'ok'}; {'resume'} when the event is gone but an earlier deletion
-- did not finish (the mark is there); {'no_event'}; or {'in_use', paid
-- orders, tickets sold, live holds, tickets held, payments that may still
-- land, refunds owed}.
local gone = P .. 'gone'
if redis.call('EXISTS', K.cfg) == 0 then
  if redis.call('EXISTS', gone) == 1 then return {'resume'} end
  return {'no_event'}
end
local sold, held = 0, 0
local inv = redis.call('HGETALL', K.inv)
for i = 1, #inv, 2 do
  if string.sub(inv[i], -5) == ':sold' then sold = sold + tonumber(inv[i + 1]) end
  if string.sub(inv[i], -5) == ':held' then held = held + tonumber(inv[i + 1]) end
end
local live = redis.call('ZCARD', K.expiry)
local pending = redis.call('ZCARD', K.pend)
local refunds = redis.call('ZCARD', K.refunds)
if sold > 0 or held > 0 or live > 0 or pending > 0 or refunds > 0 then
  local paid = tonumber(redis.call('HGET', K.stats, 'paid') or '0') + tonumber(redis.call('HGET', K.stats, 'paid_late') or '0')
  return {'in_use', paid, sold, live, held, pending, refunds}
end
redis.call('DEL', K.cfg, K.inv, K.byuser, K.expiry, K.warn, K.pend, K.refunds,
  K.outbox, P .. 'dead', K.log, K.stats, K.buyers)
redis.call('SET', gone, ARGV[1])
return {'ok'}
