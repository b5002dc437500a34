-- template: set or remove a room's page template (look.go). The text lives
-- in its own key, beside the room's configuration, which carries only its
-- SHA-256: every instance reloads the configuration each second, and a
-- template of tens of kilobytes would ride along each time.
-- KEYS: 1 cfg, 2 template
-- ARGV: 1 now (ms), 2 SHA-256 (hex; '' removes the template), 3 text
-- Returns 0 when there is no such room.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[2])
  redis.call('HDEL', KEYS[1], 'tpl')
else
  redis.call('SET', KEYS[2], ARGV[3])
  redis.call('HSET', KEYS[1], 'tpl', ARGV[2])
end
redis.call('HSET', KEYS[1], 'updated_ms', ARGV[1])
return 1
