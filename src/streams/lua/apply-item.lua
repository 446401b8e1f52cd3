-- One item's share of the batches a worker applies together (of one or more partitions): its window
-- counts, action totals and decayed popularity for events on it, and its co-visitation partners.
-- Contributions at or below the item's applied offset for their partition are skipped, so re-sending
-- an item step is harmless.
--
-- Everything but the co-visitation lives in the one stats hash, read with one HMGET and written with
-- one HSET per call however many events and windows the call carries: the offsets, `cn` (how many
-- partners the co-visitation set holds), `_b` (the popularity base), `pop`, the totals
-- `n:<ACTION>`, and the window counts as fields
-- `<window>:<bucket index base 36>|<ACTION>` (bucket index = bucket start / bucket length). The
-- co-visitation counts are read with one ZMSCORE and written with one ZADD. At most once a minute
-- (`wp`) the window fields that no window can read any more are dropped: a bucket is dead once its
-- window has passed it by, plus the allowed lateness, at the time of the call (windowSpec:
-- `name:bucketMs:lengthMs,…`).
--
-- An item the catalogue does not hold (no `meta` hash) is still counted, but its stats and
-- co-visitation keys live only uncataloguedTtlSec after their last write, so made-up ids leave
-- nothing long-lived; its first write after it is catalogued gives them their full TTLs back
-- (flag `u` in `fk` while they are short). `catalogued` 1 says the worker saw the item in the
-- catalogue when the batch was read, so `meta` is not looked at; 0 (a co-visitation partner only, or
-- an item not catalogued then) looks at it when the keys are new, short-lived or due a refresh.
--
-- KEYS: epoch, stats, covisit, meta
-- ARGV: epoch, partitions (comma-separated), popularityHalfLifeMs, covisitMax, covisitTtlSec, statsTtlSec,
--       now, ttlRefreshMs, uncataloguedTtlSec, catalogued, allowedLatenessMs, windowSpec, coVisits
--       (other items' events that name this one as a partner: `partition offset partner;…`), then
--       per event on the item itself (in ascending offsets within each partition): partition, offset,
--       occurredAt, action, weight, k, windowField_1 … windowField_k, partners (comma-separated)
-- Returns: the number of contributions applied

-- @include fence.lua
-- @include common.lua

local stats, covis, meta = KEYS[2], KEYS[3], KEYS[4]
local parts = {}
for p in string.gmatch(ARGV[2], '[^,]+') do parts[#parts + 1] = p end
local popHalf = tonumber(ARGV[3])
local covisMax, covisTtl, statsTtl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local now, refreshMs = tonumber(ARGV[7]), tonumber(ARGV[8])
local shortTtl = tonumber(ARGV[9])
local catalogued = ARGV[10] == '1'
local lateness = tonumber(ARGV[11])
local winSpec = ARGV[12]

local coVisits = ARGV[13]
local FIRST = 14

-- The counters an event moves: its window fields and its action's total.
local function counters(i, each)
  local action = ARGV[i + 3]
  for j = 1, tonumber(ARGV[i + 5]) do each(ARGV[i + 5 + j] .. '|' .. action) end
  each('n:' .. action)
end
local function nextAt(i)
  return i + 7 + tonumber(ARGV[i + 5])
end

-- One read of the state, of each partition's guard and of every counter any contribution could
-- move.
local read = { '_b', 'x', 'cn', 'fk', 'wp', 'pop' }
for _, p in ipairs(parts) do read[#read + 1] = 'off:' .. p end
local at = {}
local i = FIRST
while i <= #ARGV do
  counters(i, function(f)
    if at[f] == nil then
      read[#read + 1] = f
      at[f] = #read
    end
  end)
  i = nextAt(i)
end
local st = redis.call('HMGET', stats, unpack(read))
local applied, last = {}, {}
for j, p in ipairs(parts) do applied[p] = tonumber(st[6 + j] or '-1') end
local n = 0
local incs = {}
local popAdds = {}
local pairsOf = {}
local function took(part, offset)
  if last[part] == nil or offset > last[part] then last[part] = offset end
  n = n + 1
end
i = FIRST
while i <= #ARGV do
  local part, offset = ARGV[i], tonumber(ARGV[i + 1])
  if offset > applied[part] then
    local t = tonumber(ARGV[i + 2])
    local w = tonumber(ARGV[i + 4])
    local k = tonumber(ARGV[i + 5])
    counters(i, function(f) incs[f] = (incs[f] or 0) + 1 end)
    if w ~= 0 then popAdds[#popAdds + 1] = { w, t } end
    for other in string.gmatch(ARGV[i + 6 + k], '[^,]+') do pairsOf[other] = (pairsOf[other] or 0) + 1 end
    took(part, offset)
  end
  i = nextAt(i)
end
for part, o, other in string.gmatch(coVisits, '(%d+) (%d+) ([^;]+)') do
  local offset = tonumber(o)
  if offset > applied[part] then
    pairsOf[other] = (pairsOf[other] or 0) + 1
    took(part, offset)
  end
end
if n == 0 then return 0 end

-- Counts: written with the state and the partitions' guards in one HSET.
local fields = {}
for part, offset in pairs(last) do
  fields[#fields + 1] = 'off:' .. part
  fields[#fields + 1] = offset
end
for f, c in pairs(incs) do
  fields[#fields + 1] = f
  fields[#fields + 1] = tonumber(st[at[f]] or '0') + c
end

-- Popularity: Σ w·2^((t − base)/h), rebased to the newest event when the exponent would grow out
-- of range (every 64 half-lives).
if #popAdds > 0 then
  local maxT = popAdds[1][2]
  for _, a in ipairs(popAdds) do if a[2] > maxT then maxT = a[2] end end
  local base = tonumber(st[1] or '')
  local pop = tonumber(st[6] or '0')
  if base == nil then base = maxT end
  if (maxT - base) / popHalf > 64 then
    pop = pop * 2 ^ ((base - maxT) / popHalf)
    base = maxT
  end
  for _, a in ipairs(popAdds) do pop = pop + a[1] * 2 ^ ((a[2] - base) / popHalf) end
  for _, v in ipairs({ '_b', base, 'pop', pop }) do fields[#fields + 1] = v end
end

-- Co-visitation: one read of the partners' counts, one write of the new ones.
local refreshed = tonumber(st[2] or '-1')
-- How many partners the co-visitation set holds (stats written before it was kept: counted once).
local covisSize = tonumber(st[3] or '')
local flags = st[4] or ''
local partners, adds = {}, {}
for other, c in pairs(pairsOf) do
  partners[#partners + 1] = other
  adds[#adds + 1] = c
end
if #partners > 0 then
  if covisSize == nil then
    covisSize = redis.call('ZCARD', covis)
    -- Stats written before kept `ca` (additions since the last trim) instead.
    if st[2] then redis.call('HDEL', stats, 'ca') end
  end
  covisSize = covisSize + addScores(covis, partners, adds)
  if covisSize > covisMax then
    redis.call('ZREMRANGEBYRANK', covis, 0, -(covisMax + 1))
    covisSize = covisMax
  end
end

-- Dead window fields, at most once a minute.
-- A new hash starts its minute now.
local pruned = tonumber(st[5] or tostring(now))
if st[5] == nil then
  fields[#fields + 1] = 'wp'
  fields[#fields + 1] = now
elseif next(incs) ~= nil and now - pruned >= 60000 then
  local spec = windowSpec(winSpec)
  dropWindowFields(stats, function(name, idx)
    local w = spec[name]
    return w == nil or (idx + 1) * w[1] + w[2] + lateness <= now
  end)
  fields[#fields + 1] = 'wp'
  fields[#fields + 1] = now
end

-- TTLs: set when a key appears, refreshed at most once per refreshMs; short while not catalogued.
local refresh = refreshed < 0 or now - refreshed >= refreshMs
if refresh then refreshed = now end
local short = string.find(flags, 'u', 1, true) ~= nil
if not catalogued and (short or refresh or flags == '') then
  if redis.call('EXISTS', meta) == 0 then
    statsTtl, covisTtl = shortTtl, shortTtl
    refresh = true
    if not short then flags = flags .. 'u' end
  elseif short then
    refresh = true
    flags = (string.gsub(flags, 'u', ''))
  end
elseif catalogued and short then
  refresh = true
  flags = (string.gsub(flags, 'u', ''))
end
if #partners > 0 or (refresh and string.find(flags, 'c', 1, true)) then
  if refresh or not string.find(flags, 'c', 1, true) then
    redis.call('EXPIRE', covis, covisTtl)
    if not string.find(flags, 'c', 1, true) then flags = flags .. 'c' end
  end
end
for _, v in ipairs({ 'x', refreshed, 'fk', flags }) do fields[#fields + 1] = v end
if covisSize ~= nil then
  fields[#fields + 1] = 'cn'
  fields[#fields + 1] = covisSize
end
redis.call('HSET', stats, unpack(fields))
if refresh then redis.call('EXPIRE', stats, statsTtl) end
return n
