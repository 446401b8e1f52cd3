-- One trending scope's share of the batches a worker applies together (global or one category):
-- weighted actions per item into 5-minute buckets, skipping what the scope already applied from
-- each contribution's partition.
--
-- KEYS: epoch, state, then bucket_1 … bucket_B
-- ARGV: epoch, partitions (comma-separated), stateTtlSec, contributions (in one argument:
--       `partition offset itemId weight bucketIndex;…` in ascending offsets within each partition),
--       then ttlSec_1 … ttlSec_B (one per bucket key)
-- Returns: the number of contributions applied

-- @include fence.lua
-- @include common.lua

local state = KEYS[2]
local parts, guards = {}, {}
for p in string.gmatch(ARGV[2], '[^,]+') do
  parts[#parts + 1] = p
  guards[#guards + 1] = 'off:' .. p
end
local stateTtl = tonumber(ARGV[3])
local st = redis.call('HMGET', state, unpack(guards))
local applied, last = {}, {}
for j, p in ipairs(parts) do applied[p] = tonumber(st[j] or '-1') end
local n = 0
local sums = {}
for part, o, item, w, b in string.gmatch(ARGV[4], '(%d+) (%d+) ([^ ]+) ([^ ]+) (%d+)') do
  local offset = tonumber(o)
  if offset > applied[part] then
    local idx = tonumber(b)
    local bucket = sums[idx]
    if bucket == nil then bucket = {}; sums[idx] = bucket end
    bucket[item] = (bucket[item] or 0) + tonumber(w)
    if last[part] == nil or offset > last[part] then last[part] = offset end
    n = n + 1
  end
end
if n == 0 then return 0 end
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
local progress = {}
for part, offset in pairs(last) do
  progress[#progress + 1] = 'off:' .. part
  progress[#progress + 1] = offset
end
redis.call('HSET', state, unpack(progress))
redis.call('EXPIRE', state, stateTtl)
return n
