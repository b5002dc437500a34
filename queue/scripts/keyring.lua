-- keyring: create-if-absent (ARGV[1] == 'init') or compare-and-swap
-- (ARGV[1] == 'swap') of the shared signing keyring document.
-- KEYS: 1 keyring
-- ARGV: 1 op, 2 new document, 3 expected old document (swap)
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == 'init' then
  if cur then return cur end
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end
if cur ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
