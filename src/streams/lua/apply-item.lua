-- One item's share of a batch: its window buckets, action totals and decayed popularity for
-- events on it, and its co-visitation partners. Contributions at or below the item's applied
-- offset for the partition are skipped, so re-sending a batch's item step is harmless.
--
-- An item the catalogue does not hold (no `meta` hash) is still counted, but its stats and
-- co-visitation keys live only uncataloguedTtlSec after their last write, so made-up ids leave
-- nothing long-lived; its first write after it is catalogued gives them their full TTLs back
-- (flag `u` in `fk` while they are short).
--
-- KEYS: epoch, stats, covisit, meta, then bucket_1 … bucket_B
-- ARGV: epoch, partition, popularityHalfLifeMs, covisitMax, covisitTtlSec, statsTtlSec, now, ttlRefreshMs,
--       uncataloguedTtlSec, bucketCount, then ttlSec_1 … ttlSec_B (B = bucketCount), then per contribution (ascending
--       offsets): offset, occurredAt, action ('' = co-visit only), weight, k, bucketIndex_1 …
--       bucketIndex_k, p, partner_1 … partner_p
-- Returns: the number of contributions applied

-- @include fence.lua
-- @include common.lua

local stats, covis = KEYS[2], KEYS[3]
local part = ARGV[2]
local popHalf = tonumber(ARGV[3])
local covisMax, covisTtl, statsTtl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now, refreshMs = tonumber(ARGV[7]), tonumber(ARGV[8])
local shortTtl = tonumber(ARGV[9])
local nb = tonumber(ARGV[10])
local st = redis.call('HMGET', stats, 'off:' .. part, '_b', 'x', 'ca', 'fk')
local applied = tonumber(st[1] or '-1')
local refreshed = tonumber(st[3] or '-1')
local covisAdds = tonumber(st[4] or '0')
local flags = st[5] or ''
local last = applied
local n = 0
local incs = {}
local totals = {}
local popAdds = {}
local pairsOf = {}
local i = 11 + nb
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  local t = tonumber(ARGV[i + 1])
  local action = ARGV[i + 2]
  local w = tonumber(ARGV[i + 3])
  local k = tonumber(ARGV[i + 4])
  local p = tonumber(ARGV[i + 5 + k])
  if offset > applied then
    if action ~= '' then
      for j = 1, k do count(incs, tonumber(ARGV[i + 4 + j]), action, 1) end
      totals[action] = (totals[action] or 0) + 1
      if w ~= 0 then popAdds[#popAdds + 1] = { 'pop', w, t } end
    end
    for j = 1, p do
      local other = ARGV[i + 5 + k + j]
      pairsOf[other] = (pairsOf[other] or 0) + 1
    end
    if offset > last then last = offset end
    n = n + 1
  end
  i = i + 6 + k + p
end
if last <= applied then return 0 end
addCounts(incs, 4, 10)
local fields = { 'off:' .. part, last }
for action, c in pairs(totals) do redis.call('HINCRBY', stats, 'n:' .. action, c) end
if #popAdds > 0 then
  fields[#fields + 1] = '_b'
  fields[#fields + 1] = decaySum(stats, popAdds, popHalf, tonumber(st[2] or ''), 'pop')
end
local paired = false
for other, c in pairs(pairsOf) do
  if tonumber(redis.call('ZINCRBY', covis, c, other)) == c then covisAdds = covisAdds + 1 end
  paired = true
end
if covisAdds >= 10 then
  redis.call('ZREMRANGEBYRANK', covis, 0, -(covisMax + 1))
  covisAdds = 0
end
local refresh = refreshed < 0 or now - refreshed >= refreshMs
if refresh then refreshed = now end
local short = string.find(flags, 'u', 1, true) ~= nil
if redis.call('EXISTS', KEYS[4]) == 0 then
  statsTtl, covisTtl = shortTtl, shortTtl
  refresh = true
  if not short then flags = flags .. 'u' end
elseif short then
  refresh = true
  flags = (string.gsub(flags, 'u', ''))
end
if paired or (refresh and string.find(flags, 'c', 1, true)) then flags = keepAlive(covis, 'c', covisTtl, flags, refresh) end
for _, v in ipairs({ 'x', refreshed, 'ca', covisAdds, 'fk', flags }) do fields[#fields + 1] = v end
redis.call('HSET', stats, unpack(fields))
if refresh then redis.call('EXPIRE', stats, statsTtl) end
return n
