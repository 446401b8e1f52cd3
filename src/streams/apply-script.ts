/**
 * The atomic steps of the stream worker, as Lua scripts registered once by name. Each touches the
 * keys of one user, one item or one trending scope (one hash tag, one Redis Cluster slot), and
 * each keeps the last applied Kafka offset per partition in its own keys, so that redelivery after
 * a crash or a rebalance never applies anything twice.
 */

/**
 * Helpers shared by the scripts, written to keep Redis calls per event few: increments are summed
 * in Lua tables and sent once per (key, field), TTLs are set when a key or field is created and
 * refreshed at most once per `refreshMs`, and bounded sets are trimmed every few additions.
 */
const COMMON_LUA = `
-- Adds the decayed sums Σ w·2^((t − base)/h) of \`adds\` ({field, w, t}) to hash \`key\`, whose base is
-- \`base\` (nil: none yet, the hash is new). Returns the base, which is written back by the caller.
local function decaySum(key, adds, h, base, only)
  if #adds == 0 then return base end
  local maxT = adds[1][3]
  for _, a in ipairs(adds) do if a[3] > maxT then maxT = a[3] end end
  if base == nil then base = maxT end
  if (maxT - base) / h > 64 then
    -- Rescale every sum to a newer base before 2^e grows out of range (rare: every 64 half-lives).
    -- \`only\` names the one decayed field of a hash that also holds other fields.
    local all = redis.call('HGETALL', key)
    for j = 1, #all, 2 do
      if all[j] ~= '_b' and (only == nil or all[j] == only) then
        redis.call('HSET', key, all[j], tonumber(all[j + 1]) * 2 ^ ((base - maxT) / h))
      end
    end
    base = maxT
  end
  local sums = {}
  for _, a in ipairs(adds) do sums[a[1]] = (sums[a[1]] or 0) + a[2] * 2 ^ ((a[3] - base) / h) end
  for field, v in pairs(sums) do redis.call('HINCRBYFLOAT', key, field, v) end
  return base
end

-- Adds the summed counts \`incs[idx][field]\` to bucket hashes KEYS[offset + idx]; a bucket gets its TTL
-- (ARGV[ttlAt + idx]) when a field of it is created, so every bucket key has one from its first write.
local function addCounts(incs, offset, ttlAt)
  for idx, fields in pairs(incs) do
    local key = KEYS[offset + idx]
    for field, c in pairs(fields) do
      if redis.call('HINCRBY', key, field, c) == c then redis.call('EXPIRE', key, tonumber(ARGV[ttlAt + idx])) end
    end
  end
end

local function count(incs, idx, field, c)
  local fields = incs[idx]
  if fields == nil then fields = {}; incs[idx] = fields end
  fields[field] = (fields[field] or 0) + c
end

-- The TTL of a long-lived key: set when the key first appears (its flag is missing from \`flags\`), and
-- refreshed with all the others when \`refresh\` is true. Returns the flags with this key's added.
local function keepAlive(key, flag, ttl, flags, refresh)
  if refresh or not string.find(flags, flag, 1, true) then
    redis.call('EXPIRE', key, ttl)
    if not string.find(flags, flag, 1, true) then flags = flags .. flag end
  end
  return flags
end
`;

/**
 * One user's events from one batch: dedupe (per-partition offset, then eventId), lateness against
 * the user's latest event time, window buckets, decayed category affinity, recent / positive /
 * hidden items, and co-engagement partners (the user's newest engaged items within the horizon).
 * What the item side and the pattern matcher must do for the counted events is returned and also
 * noted in the state hash (`pend:<partition>`: the counted offsets and their co-visitation partners,
 * `offset=partner,partner;offset`; the rest comes from the redelivered records themselves), so a
 * redelivered batch can finish a second step that
 * a crash cut off. `tags` are the item's tags that some pattern rule looks at (comma-separated),
 * carried along so that the second step sees the tags the event was counted with.
 *
 * KEYS: state, seen, recent, positive, hidden, affinity, bucket_1 … bucket_B
 * ARGV: partition, allowedLatenessMs, stateTtlSec, recentMax, positiveMax, hiddenMax, hiddenTtlSec,
 *       horizonMs, maxPartners, minPartnerWeight, affinityHalfLifeMs, now, ttlRefreshMs, B,
 *       ttlSec_1 … ttlSec_B, then per event: offset, eventId, occurredAt, itemId, category, action,
 *       weight, tags, k, bucketIndex_1 … k
 * State fields besides offsets and `wm`: `x` (last TTL refresh), `ts` (watermark at the last
 * dedupe trim), `ra` / `pa` (additions to recent / positive since their last trim), `fk` (which
 * long-lived keys have a TTL).
 * Returns: { counted, late, duplicate, replayed, watermark, contributionsJson, rehandedJsonOrEmpty }
 */
export const APPLY_USER_EVENTS_LUA = `${COMMON_LUA}
local state, seen, recent, pos, hidden, aff = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local part = ARGV[1]
local lateness = tonumber(ARGV[2])
local stateTtl = tonumber(ARGV[3])
local recentMax, posMax = tonumber(ARGV[4]), tonumber(ARGV[5])
local hiddenMax, hiddenTtl = tonumber(ARGV[6]), tonumber(ARGV[7])
local horizon, maxPartners, minPartnerWeight = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local affHalf = tonumber(ARGV[11])
local now, refreshMs = tonumber(ARGV[12]), tonumber(ARGV[13])
local nb = tonumber(ARGV[14])
local st = redis.call('HMGET', state, 'off:' .. part, 'wm', 'x', 'ts', 'ra', 'pa', 'fk')
local applied = tonumber(st[1] or '-1')
local wm = tonumber(st[2] or '0')
local refreshed = tonumber(st[3] or '-1')
local trimmedAt = tonumber(st[4] or '0')
local recentAdds, posAdds = tonumber(st[5] or '0'), tonumber(st[6] or '0')
local flags = st[7] or ''
local counted, late, dup, replayed = 0, 0, 0, 0
local last = applied
local incs = {}
local affAdds = {}
local out = {}
local hid = false
local posTouched = false
local pendMap = nil
local rehanded = {}
local notes = {}
local i = 15 + nb
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  local eventId = ARGV[i + 1]
  local t = tonumber(ARGV[i + 2])
  local itemId, cat, action = ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local w = tonumber(ARGV[i + 6])
  local tags = ARGV[i + 7]
  local k = tonumber(ARGV[i + 8])
  if offset <= applied then
    replayed = replayed + 1
    if pendMap == nil then
      pendMap = {}
      for entry in string.gmatch(redis.call('HGET', state, 'pend:' .. part) or '', '[^;]+') do
        local o, list = string.match(entry, '^([^=]+)=?(.*)$')
        local ps = {}
        for other in string.gmatch(list, '[^,]+') do ps[#ps + 1] = other end
        pendMap[o] = ps
      end
    end
    local ps = pendMap[ARGV[i]]
    if ps ~= nil then rehanded[#rehanded + 1] = { ARGV[i], itemId, cat, action, t, w, ps, eventId, tags } end
  else
    last = offset
    if t < wm - lateness then
      late = late + 1
    elseif redis.call('ZADD', seen, 'NX', t, eventId) == 0 then
      dup = dup + 1
    else
      local field = cat .. '|' .. action
      for j = 1, k do count(incs, tonumber(ARGV[i + 8 + j]), field, 1) end
      if w ~= 0 then affAdds[#affAdds + 1] = { cat, w, t } end
      local partners = {}
      if w >= minPartnerWeight then
        local near = redis.call('ZRANGE', pos, t + horizon, t - horizon, 'BYSCORE', 'REV', 'LIMIT', 0, maxPartners + 1)
        for _, other in ipairs(near) do
          if other ~= itemId and #partners < maxPartners then partners[#partners + 1] = other end
        end
        posAdds = posAdds + redis.call('ZADD', pos, 'GT', t, itemId)
        posTouched = true
      end
      recentAdds = recentAdds + redis.call('ZADD', recent, 'GT', t, itemId)
      if action == 'HIDE' then
        redis.call('ZADD', hidden, 'GT', t, itemId)
        hid = true
      end
      out[#out + 1] = { ARGV[i], itemId, cat, action, t, w, partners, eventId, tags }
      notes[#notes + 1] = ARGV[i] .. '=' .. table.concat(partners, ',')
      if t > wm then wm = t end
      counted = counted + 1
    end
  end
  i = i + 9 + k
end
local pending = ''
if #rehanded > 0 then pending = cjson.encode(rehanded) end
local contributions = ''
if #out > 0 then contributions = cjson.encode(out) end
addCounts(incs, 6, 14)
if #affAdds > 0 then
  local base = decaySum(aff, affAdds, affHalf, tonumber(redis.call('HGET', aff, '_b') or ''), nil)
  redis.call('HSET', aff, '_b', base)
end
if last > applied then
  local fields = { 'off:' .. part, last, 'wm', wm }
  if #out > 0 then
    fields[#fields + 1] = 'pend:' .. part
    fields[#fields + 1] = table.concat(notes, ';')
  end
  -- Bounded sets are trimmed every few additions and the dedupe set whenever the watermark has
  -- moved on by a quarter of the allowed lateness: cheap, and still bounded.
  if recentAdds >= 10 then
    redis.call('ZREMRANGEBYRANK', recent, 0, -(recentMax + 1))
    recentAdds = 0
  end
  if posAdds >= 10 then
    redis.call('ZREMRANGEBYRANK', pos, 0, -(posMax + 1))
    posAdds = 0
  end
  if wm - trimmedAt > lateness / 4 then
    redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (wm - lateness))
    trimmedAt = wm
  end
  local refresh = refreshed < 0 or now - refreshed >= refreshMs
  if refresh then refreshed = now end
  local function alive(key, flag, touched)
    if touched or (refresh and string.find(flags, flag, 1, true)) then
      flags = keepAlive(key, flag, stateTtl, flags, refresh)
    end
  end
  alive(seen, 's', counted > 0)
  alive(recent, 'r', counted > 0)
  alive(aff, 'a', #affAdds > 0)
  alive(pos, 'p', posTouched)
  for _, v in ipairs({ 'x', refreshed, 'ts', trimmedAt, 'ra', recentAdds, 'pa', posAdds, 'fk', flags }) do
    fields[#fields + 1] = v
  end
  redis.call('HSET', state, unpack(fields))
  if refresh then redis.call('EXPIRE', state, stateTtl) end
  if hid then
    redis.call('ZREMRANGEBYRANK', hidden, 0, -(hiddenMax + 1))
    redis.call('EXPIRE', hidden, hiddenTtl)
  end
end
return { counted, late, dup, replayed, wm, contributions, pending }
`;

/**
 * One item's share of a batch: its window buckets, action totals and decayed popularity for
 * events on it, and its co-visitation partners. Contributions at or below the item's applied
 * offset for the partition are skipped, so re-sending a batch's item step is harmless.
 *
 * KEYS: stats, covisit, bucket_1 … bucket_B
 * ARGV: partition, popularityHalfLifeMs, covisitMax, covisitTtlSec, statsTtlSec, now, refreshMs, B,
 *       ttlSec_1 … ttlSec_B, then per contribution (ascending offsets): offset, occurredAt,
 *       action ('' = co-visit only), weight, k, bucketIndex_1 … k, p, partner_1 … partner_p
 * Returns: contributions applied
 */
export const APPLY_ITEM_LUA = `${COMMON_LUA}
local stats, covis = KEYS[1], KEYS[2]
local part = ARGV[1]
local popHalf = tonumber(ARGV[2])
local covisMax, covisTtl, statsTtl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now, refreshMs = tonumber(ARGV[6]), tonumber(ARGV[7])
local nb = tonumber(ARGV[8])
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
local i = 9 + nb
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
addCounts(incs, 2, 8)
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
if paired or (refresh and string.find(flags, 'c', 1, true)) then flags = keepAlive(covis, 'c', covisTtl, flags, refresh) end
for _, v in ipairs({ 'x', refreshed, 'ca', covisAdds, 'fk', flags }) do fields[#fields + 1] = v end
redis.call('HSET', stats, unpack(fields))
if refresh then redis.call('EXPIRE', stats, statsTtl) end
return n
`;

/**
 * One trending scope's share of a batch (global or one category): weighted actions per item into
 * 5-minute buckets, skipping what the scope already applied from this partition.
 *
 * KEYS: state, bucket_1 … bucket_B
 * ARGV: partition, stateTtlSec, B, ttlSec_1 … ttlSec_B, then per contribution (ascending offsets):
 *       offset, itemId, weight, bucketIndex
 * Returns: contributions applied
 */
export const APPLY_TRENDING_LUA = `
local state = KEYS[1]
local part = ARGV[1]
local stateTtl = tonumber(ARGV[2])
local nb = tonumber(ARGV[3])
local applied = tonumber(redis.call('HGET', state, 'off:' .. part) or '-1')
local last = applied
local n = 0
local sums = {}
local i = 4 + nb
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
for idx, items in pairs(sums) do
  for item, w in pairs(items) do redis.call('ZINCRBY', KEYS[1 + idx], w, item) end
  redis.call('EXPIRE', KEYS[1 + idx], tonumber(ARGV[3 + idx]))
end
redis.call('HSET', state, 'off:' .. part, last)
redis.call('EXPIRE', state, stateTtl)
return n
`;

/**
 * A declared-interests record: replaces the profile unless Redis holds a newer one.
 *
 * KEYS: profile
 * ARGV: interests (comma-separated), updatedAt
 */
export const APPLY_PROFILE_LUA = `
local current = tonumber(redis.call('HGET', KEYS[1], 'updatedAt') or '-1')
if tonumber(ARGV[2]) >= current then
  redis.call('HSET', KEYS[1], 'interests', ARGV[1], 'updatedAt', ARGV[2])
  return 1
end
return 0
`;

export interface ApplyResult {
  counted: number;
  late: number;
  duplicate: number;
  replayed: number;
  watermark: number;
}
