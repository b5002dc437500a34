-- soldout: close a room because nothing is left to sell behind it
-- (ARGV[1] 'close'), or reopen a room that closed so once tickets are on
-- sale again (ARGV[1] 'reopen'). It undoes only its own doing: a room the
-- organizer closed (closed_why '') is never reopened here, and closing
-- leaves a room already closed, for whatever reason, as it is.
-- KEYS: 1 cfg
-- ARGV: 1 'close' or 'reopen', 2 now (ms), 3 (reopen) reopen only a room
--       that closed before this time (ms): a close decided on figures
--       newer than the caller's stands
-- Returns 1 when the room changed, 0 when it did not, -1 for no such room.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local c = redis.call('HMGET', KEYS[1], 'closed', 'closed_why', 'closed_at_ms')
if ARGV[1] == 'close' then
  if c[1] == '1' then return 0 end
  redis.call('HSET', KEYS[1], 'closed', '1', 'closed_why', 'sold_out', 'closed_at_ms', ARGV[2], 'updated_ms', ARGV[2])
  return 1
end
if c[1] ~= '1' or c[2] ~= 'sold_out' or tonumber(c[3] or '0') >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'closed', '0', 'closed_why', '', 'closed_at_ms', '0', 'updated_ms', ARGV[2])
return 1
