-- One item as the ranking reads it, in one call instead of three: its catalogue fields, its
-- real-time stats and its long-horizon score (the three hashes share the item's hash tag).
--
-- KEYS: meta, stats, longHorizon
-- ARGV: actionCount, then action_1 … action_A (the stats' `n:<ACTION>` totals to read, in order)
-- Returns: { category, tags, authorId, createdAt, pop, _b, total_1 … total_A, score }, a missing
--          field as nil

local fields = { 'pop', '_b' }
for i = 2, #ARGV do fields[#fields + 1] = 'n:' .. ARGV[i] end
local out = redis.call('HMGET', KEYS[1], 'category', 'tags', 'authorId', 'createdAt')
for _, v in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do out[#out + 1] = v end
out[#out + 1] = redis.call('HGET', KEYS[3], 'score')
return out
