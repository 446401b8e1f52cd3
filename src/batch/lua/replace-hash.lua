-- Replaces a hash in one atomic step: readers see the old version or the new, never a mix.
--
-- KEYS: hash
-- ARGV: ttlSec, then field_1, value_1 … field_n, value_n
-- Returns: 1

redis.call('DEL', KEYS[1])
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
return 1
