-- hooks: organizers' room hooks (queue/hooks.go). Compares what an
-- organizer can see of a room (queue open, sale started, paused, closed
-- and why, a traffic-triggered room's state, the rate it admits at) with
-- what was last recorded, records the new state, and appends one message
-- per change to the room's hook outbox, all in one step: however many
-- instances call it, and however often, each change is appended once.
-- KEYS: 1 cfg, 2 stats, 3 adapt, 4 hook state, 5 hook outbox
-- ARGV: 1 now (ms), 2 the room's name, 3 least gap between two changes
--       of the adaptive rate told (ms), 4 how recent a room's creation
--       must be to be told (ms)
-- Returns the kinds appended, in order.
local now = tonumber(ARGV[1])
local c = redis.call('HMGET', KEYS[1], 'created_ms', 'opens_ms', 'sale_ms', 'paused', 'closed', 'closed_why',
  'rate', 'adaptive', 't_active', 't_new')
if not c[1] then return {} end -- no such room (any more)

-- What the room is now.
local opens, sale = tonumber(c[2]) or 0, tonumber(c[3]) or 0
local cur = {
  open = now >= opens and '1' or '0', opens = string.format('%d', opens),
  sale = now >= sale and '1' or '0', sales = string.format('%d', sale),
  paused = c[4] == '1' and '1' or '0',
  closed = '', trig = '', trig_ms = '0',
  apm = c[7] or '0', adaptive = c[8] == '1' and '1' or '0',
}
if c[5] == '1' then
  cur.closed = c[6] == 'sold_out' and 'sold_out' or 'closed'
end
if (tonumber(c[9]) or 0) > 0 or (tonumber(c[10]) or 0) > 0 then
  local t = redis.call('HMGET', KEYS[2], 'trig', 'trig_ms')
  cur.trig = t[1] == 'queueing' and 'queueing' or 'quiet'
  cur.trig_ms = t[2] or '0'
end
-- The rate it admits at: the organizer's, or the lower of it and the
-- adaptive rate (as admit.lua takes it).
local rate, why = tonumber(cur.apm) or 0, ''
if cur.adaptive == '1' then
  local a = redis.call('HMGET', KEYS[3], 'rate', 'why')
  if a[1] then
    rate = math.min(rate, tonumber(a[1]) or rate)
    why = a[2] or ''
  end
end
cur.rate = string.format('%.3f', rate)

-- What was recorded, and the changes since.
local rec, was = {}, {}
local flat = redis.call('HGETALL', KEYS[4])
for i = 1, #flat, 2 do
  rec[flat[i]] = flat[i + 1]
  was[flat[i]] = flat[i + 1]
end
local changes = {}
local function add(kind, at, data) changes[#changes + 1] = {kind, at, data} end

if rec.created ~= c[1] then
  -- First sight of this room (or of this incarnation of its name): record
  -- it as it is. A room created a moment ago is announced with its state;
  -- one seen for the first time long after (hooks just turned on) is not.
  rec = {created = c[1], seq = '0', adapt_ms = '0'}
  for k, v in pairs(cur) do rec[k] = v end
  redis.call('DEL', KEYS[4])
  was = {}
  if now - tonumber(c[1]) <= tonumber(ARGV[4]) then add('room.created', tonumber(c[1]), {}) end
else
  if cur.closed ~= rec.closed then
    if cur.closed == 'sold_out' then add('room.sold_out', now, {})
    elseif cur.closed == 'closed' then add('room.closed', now, {})
    else add('room.reopened', now, {}) end
    rec.closed = cur.closed
  end
  if cur.paused ~= rec.paused then
    add(cur.paused == '1' and 'room.paused' or 'room.resumed', now, {})
    rec.paused = cur.paused
  end
  -- A scheduled time, once seen passed, stays passed until the organizer
  -- moves it: an instance whose clock lags the one that saw it pass must
  -- not take it back.
  if cur.open == '1' then
    if rec.open ~= '1' then add('room.queue_opened', now, {queue_opens_at = opens > 0 and opens or nil}) end
    rec.open, rec.opens = '1', cur.opens
  elseif rec.open ~= '1' or rec.opens ~= cur.opens then
    rec.open, rec.opens = '0', cur.opens
  end
  if cur.sale == '1' then
    if rec.sale ~= '1' then add('room.sale_started', now, {sale_starts_at = sale > 0 and sale or nil}) end
    rec.sale, rec.sales = '1', cur.sales
  elseif rec.sale ~= '1' or rec.sales ~= cur.sales then
    rec.sale, rec.sales = '0', cur.sales
  end
  -- A traffic-triggered room's state, exact: join.lua and admit.lua stamp
  -- each change. Two changes between calls (activated and quiet again)
  -- leave the state as it was, with a new time: both are told. A room
  -- that becomes triggered, or stops being so, says nothing.
  local at = tonumber(cur.trig_ms) or now
  if rec.trig ~= '' and cur.trig ~= '' then
    if cur.trig ~= rec.trig then
      add(cur.trig == 'queueing' and 'room.activated' or 'room.quiet', at, {})
    elseif cur.trig_ms ~= rec.trig_ms then
      add(cur.trig == 'queueing' and 'room.quiet' or 'room.activated', at, {})
      add(cur.trig == 'queueing' and 'room.activated' or 'room.quiet', at, {})
    end
  end
  rec.trig, rec.trig_ms = cur.trig, cur.trig_ms
  -- The rate: an organizer's change (admit_per_minute, or adaptive
  -- admission switched) is told at once; the adaptive rate's own steps at
  -- most once per gap, from the rate last told to the rate then.
  if cur.rate ~= rec.rate then
    local from, to = tonumber(rec.rate), tonumber(cur.rate)
    if cur.apm ~= rec.apm or cur.adaptive ~= rec.adaptive then
      add('room.rate_changed', now, {from = from, to = to, source = 'organizer'})
      rec.rate = cur.rate
    elseif now - (tonumber(rec.adapt_ms) or 0) >= tonumber(ARGV[3]) then
      add('room.rate_changed', now, {from = from, to = to, source = 'adaptive', reason = why})
      rec.rate, rec.adapt_ms = cur.rate, string.format('%d', now)
    end
  end
  rec.apm, rec.adaptive = cur.apm, cur.adaptive
end

-- Each message carries the room as recorded after this call's changes.
local state = {
  queue_open = rec.open == '1', sale_started = rec.sale == '1', paused = rec.paused == '1',
  closed = rec.closed ~= '', closed_reason = rec.closed == 'sold_out' and 'sold_out' or nil,
  trigger_state = rec.trig ~= '' and rec.trig or nil,
  admit_per_minute = tonumber(rec.apm) or 0, rate_per_minute = tonumber(rec.rate) or 0,
}
local seq = tonumber(rec.seq) or 0
local kinds = {}
for _, ch in ipairs(changes) do
  seq = seq + 1
  local data = ch[3]
  data.seq = seq
  data.state = state
  redis.call('XADD', KEYS[5], '*', 'kind', ch[1], 'room', ARGV[2], 'at', string.format('%d', ch[2]),
    'data', cjson.encode(data))
  kinds[#kinds + 1] = ch[1]
end
rec.seq = string.format('%d', seq)
-- Written only when something changed: most calls change nothing, and
-- every instance makes one per room per second.
local args = {}
for k, v in pairs(rec) do
  if was[k] ~= v then
    args[#args + 1] = k
    args[#args + 1] = v
  end
end
if #args > 0 then redis.call('HSET', KEYS[4], unpack(args)) end
return kinds
