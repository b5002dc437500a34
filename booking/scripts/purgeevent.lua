-- Remove a batch of a deleted event's keys named by id, which Go found by
-- SCAN (see delevent.lua). It touches nothing unless the event is being
-- deleted (the mark is there, the definition is not), so a batch can never
-- remove the keys of an event created again under the same id.
-- KEYS: 1 cfg, then the first ARGV[1] keys are orders, the rest anything
-- else of the event's.
-- Returns the payment ids of the orders removed, so Go can remove their
-- index entries, or false when the event is not being deleted.
if redis.call('EXISTS', K.cfg) == 1 or redis.call('EXISTS', P .. 'gone') == 0 then return false end
local orders = tonumber(ARGV[1])
local pays = {}
for i = 2, #KEYS do
  if i <= orders + 1 and redis.call('TYPE', KEYS[i]).ok == 'hash' then
    local p = redis.call('HGET', KEYS[i], 'payment')
    if p then pays[#pays + 1] = p end
  end
  redis.call('UNLINK', KEYS[i])
end
return pays
