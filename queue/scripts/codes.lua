-- codes: add, count or clear a room's access codes (codes.go).
-- KEYS: 1 cfg, 2 codes
-- ARGV: 1 'add', 'count' or 'clear'; for add, 2 uses, 3.. hashed codes
-- Returns {codes, uses left, used}, or {} when there is no such room.
-- A code added again gets the new number of uses (not the sum).
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local op = ARGV[1]
if op == 'add' then
  local uses = tonumber(ARGV[2])
  local n, left = 0, 0
  for i = 3, #ARGV do
    local old = redis.call('HGET', KEYS[2], ARGV[i])
    if not old then n = n + 1 end
    left = left + uses - tonumber(old or 0)
    redis.call('HSET', KEYS[2], ARGV[i], uses)
  end
  redis.call('HINCRBY', KEYS[2], '#codes', n)
  redis.call('HINCRBY', KEYS[2], '#left', left)
elseif op == 'clear' then
  local used = redis.call('HGET', KEYS[2], '#used')
  redis.call('DEL', KEYS[2])
  if used then redis.call('HSET', KEYS[2], '#used', used) end
end
local c = redis.call('HMGET', KEYS[2], '#codes', '#left', '#used')
return {tonumber(c[1] or 0), tonumber(c[2] or 0), tonumber(c[3] or 0)}
