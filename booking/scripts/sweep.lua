-- Expire holds whose time is up and warn those about to end.
-- ARGV: now, max holds per call.
-- Driven by the sorted sets of expiry and warning times, never by keyspace
-- notifications, which are lost while no client listens.
-- Returns {expired, warned}.
local now, step = tonumber(ARGV[1]), tonumber(ARGV[2])
local expired, warned = 0, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.expiry, '-inf', now, 'LIMIT', 0, step)) do
  local h = hgetall(hold_key(id))
  if h and live(h) then
    expire(h, now)
    expired = expired + 1
  else
    redis.call('ZREM', K.expiry, id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.warn, '-inf', now, 'LIMIT', 0, step)) do
  redis.call('ZREM', K.warn, id)
  local h = hgetall(hold_key(id))
  if h and live(h) and tonumber(h.expires) > now then
    notify(now, 'hold.expiring', h, h.order)
    warned = warned + 1
  end
end
return {expired, warned}
