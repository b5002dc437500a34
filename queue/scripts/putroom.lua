-- putroom: create or replace a room's configuration (the line is kept).
-- KEYS: 1 cfg, 2 bucket, 3 adapt, 4 adapt log
-- ARGV: 1 now (ms), 2 create only ('1': an existing room is left alone),
--       3.. field, value pairs
-- Returns 1 when the room was created, 0 when replaced or left alone.
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local created = redis.call('HGET', KEYS[1], 'created_ms')
local adaptive = redis.call('HGET', KEYS[1], 'adaptive')
-- The page template is set apart (template.lua): a new configuration keeps it.
local tpl = redis.call('HGET', KEYS[1], 'tpl')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'created_ms', created or ARGV[1], 'updated_ms', ARGV[1], unpack(ARGV, 3))
if tpl then redis.call('HSET', KEYS[1], 'tpl', tpl) end
if redis.call('HGET', KEYS[1], 'adaptive') == '1' and adaptive ~= '1' then
  adaptive_start(KEYS[1], KEYS[3], KEYS[4], ARGV[1])
end
if created then return 0 end
-- A new room starts with an empty bucket: no burst at creation.
redis.call('HSET', KEYS[2], 'tokens', '0', 'last', ARGV[1])
return 1
