-- snapshot: where a position tracker starts. Atomic, so the log entries
-- after the returned id are exactly the changes since the returned head.
-- KEYS: 1 stats, 2 log, 3 seq, 4 fair
-- Returns {head, last log number, last log id, last sequence number, draw
-- state ('' when the room has none), draw cutoff}.
local st = redis.call('HMGET', KEYS[1], 'head', 'logn')
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
local fair = redis.call('HMGET', KEYS[4], 'state', 'cutoff')
return {tonumber(st[1] or 0), tonumber(st[2] or 0), id, tonumber(redis.call('GET', KEYS[3]) or 0),
  fair[1] or '', tonumber(fair[2] or 0)}
