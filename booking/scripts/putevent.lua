-- Create or change an event and its ticket types.
-- ARGV: now, event, room, hold_seconds, n, then n × (id, name, capacity,
--       price_minor, currency, per_order_limit), then per_admission_limit,
--       then create only ('1': an existing event is left alone), then the
--       event's name ('' for none).
-- A capacity change moves only available tickets: it fails when the new
-- capacity is below what is already held or sold, and a type with tickets
-- held or sold cannot be removed.
-- An event whose deletion has not finished (delevent.lua's mark) is not
-- created again until it has: its old keys would mix with the new ones.
-- Returns {'ok', created (0|1)} or {'err', code, type}.
local now, event, room, hold_seconds, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
if redis.call('EXISTS', P .. 'gone') == 1 then return {'err', 'being_deleted', ''} end
local created = redis.call('EXISTS', K.cfg) == 0 and 1 or 0
if created == 0 and ARGV[7 + n * 6] == '1' then return {'ok', 0} end

local keep = {}
for i = 0, n - 1 do
  local b = 6 + i * 6
  local t, cap = ARGV[b], tonumber(ARGV[b + 2])
  keep[t] = true
  local held = tonumber(redis.call('HGET', K.inv, t .. ':held') or '0')
  local sold = tonumber(redis.call('HGET', K.inv, t .. ':sold') or '0')
  if cap < held + sold then
    return {'err', 'capacity_below_taken', t}
  end
end
local old = redis.call('HGET', K.cfg, 'types')
if old then
  for t in string.gmatch(old, '[^,]+') do
    if not keep[t] then
      local held = tonumber(redis.call('HGET', K.inv, t .. ':held') or '0')
      local sold = tonumber(redis.call('HGET', K.inv, t .. ':sold') or '0')
      if held + sold > 0 then return {'err', 'type_in_use', t} end
      for _, f in ipairs({'cap', 'avail', 'held', 'sold', 'name', 'price', 'cur', 'limit'}) do
        redis.call('HDEL', K.inv, t .. ':' .. f)
      end
    end
  end
end

local types = {}
for i = 0, n - 1 do
  local b = 6 + i * 6
  local t, name, cap = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2])
  local held = tonumber(redis.call('HGET', K.inv, t .. ':held') or '0')
  local sold = tonumber(redis.call('HGET', K.inv, t .. ':sold') or '0')
  redis.call('HSET', K.inv, t .. ':cap', cap, t .. ':avail', cap - held - sold,
    t .. ':held', held, t .. ':sold', sold, t .. ':name', name,
    t .. ':price', ARGV[b + 3], t .. ':cur', ARGV[b + 4], t .. ':limit', ARGV[b + 5])
  types[#types + 1] = t
end
-- A lower limit takes nothing back from buyers already past it: they may
-- buy no more.
redis.call('HSET', K.cfg, 'event', event, 'room', room, 'hold_seconds', hold_seconds,
  'types', table.concat(types, ','), 'plimit', ARGV[6 + n * 6], 'updated', now)
local name = ARGV[8 + n * 6] or ''
if name == '' then redis.call('HDEL', K.cfg, 'name') else redis.call('HSET', K.cfg, 'name', name) end
if created == 1 then redis.call('HSET', K.cfg, 'created', now) end
log_event(now, created == 1 and 'event.created' or 'event.changed', 'organizer', {'room', room})
return {'ok', created}
