-- Sums a trending scope's buckets with their decay weights into a temporary key in the scope's
-- slot and returns the top entries: the ranking happens inside Redis, not over the wire.
--
-- KEYS: temp, then bucket_1 … bucket_B
-- ARGV: limit, then weight_1 … weight_B
-- Returns: the top `limit` members with their scores, highest first (ZRANGE … WITHSCORES)

local n = #KEYS - 1
local args = { 'ZUNIONSTORE', KEYS[1], n }
for i = 2, #KEYS do args[#args + 1] = KEYS[i] end
args[#args + 1] = 'WEIGHTS'
for i = 2, #ARGV do args[#args + 1] = ARGV[i] end
redis.call(unpack(args))
local top = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'REV', 'WITHSCORES')
redis.call('DEL', KEYS[1])
return top
