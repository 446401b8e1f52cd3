-- One trending scope's share of a batch (global or one category): weighted actions per item into
-- 5-minute buckets, skipping what the scope already applied from this partition.
--
-- KEYS: epoch, state, then bucket_1 … bucket_B
-- ARGV: epoch, partition, stateTtlSec, bucketCount, then ttlSec_1 … ttlSec_B (B = bucketCount), then per
--       contribution (ascending offsets): offset, itemId, weight, bucketIndex
-- Returns: the number of contributions applied

-- @include fence.lua
-- @include common.lua

local state = KEYS[2]
local part = ARGV[2]
local stateTtl = tonumber(ARGV[3])
local nb = tonumber(ARGV[4])
local applied = tonumber(redis.call('HGET', state, 'off:' .. part) or '-1')
local last = applied
local n = 0
local sums = {}
local i = 5 + nb
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  if offset > applied then
    local idx = tonumber(ARGV[i + 3])
    local bucket = sums[idx]
    if bucket == nil then bucket = {}; sums[idx] = bucket end
    bucket[ARGV[i + 1]] = (bucket[ARGV[i + 1]] or 0) + tonumber(ARGV[i + 2])
    if offset > last then last = offset end
    n = n + 1
  end
  i = i + 4
end
if last <= applied then return 0 end
-- Per bucket, one read of the items' sums and one write of the new ones (however many items).
for idx, items in pairs(sums) do
  local key = KEYS[2 + idx]
  local ids, adds = {}, {}
  for item, w in pairs(items) do
    ids[#ids + 1] = item
    adds[#adds + 1] = w
  end
  addScores(key, ids, adds)
  redis.call('EXPIRE', key, tonumber(ARGV[4 + idx]))
end
redis.call('HSET', state, 'off:' .. part, last)
redis.call('EXPIRE', state, stateTtl)
return n
