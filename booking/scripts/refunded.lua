-- Record that the provider refunded an order's payment.
-- ARGV: now, order id.
local now, oid = ARGV[1], ARGV[2]
if redis.call('HGET', order_key(oid), 'refund') == 'requested' then
  redis.call('HSET', order_key(oid), 'refund', 'done', 'refunded', now)
  log_event(now, 'payment.refunded', 'system', {'order', oid})
end
redis.call('ZREM', K.refunds, oid)
return 1
