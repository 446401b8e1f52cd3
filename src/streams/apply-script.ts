/**
 * The atomic steps of the stream worker, as Lua scripts registered once by name. Each touches the
 * keys of one user, one item or one trending scope (one hash tag, one Redis Cluster slot), and
 * each keeps the last applied Kafka offset per partition in its own keys, so that redelivery after
 * a crash or a rebalance never applies anything twice.
 */

/** Adds `w` to a decayed sum stored as Σ w·2^((t − base)/h) (see features/definitions.ts). */
const DECAY_ADD_LUA = `
local function decayAdd(key, field, w, t, h, bases, only)
  local base = bases[key]
  if base == nil then
    base = tonumber(redis.call('HGET', key, '_b') or '')
    if base == nil then
      base = t
      redis.call('HSET', key, '_b', t)
    end
  end
  local e = (t - base) / h
  if e > 64 then
    -- Rescale every sum to a newer base before 2^e grows out of range (rare: every 64 half-lives).
    -- \`only\` names the one decayed field of a hash that also holds other fields.
    local all = redis.call('HGETALL', key)
    for j = 1, #all, 2 do
      if all[j] ~= '_b' and (only == nil or all[j] == only) then
        redis.call('HSET', key, all[j], tonumber(all[j + 1]) * 2 ^ ((base - t) / h))
      end
    end
    base = t
    redis.call('HSET', key, '_b', t)
    e = 0
  end
  bases[key] = base
  redis.call('HINCRBYFLOAT', key, field, w * 2 ^ e)
end
`;

/**
 * One user's events from one batch: dedupe (per-partition offset, then eventId), lateness against
 * the user's latest event time, window buckets, decayed category affinity, recent / positive /
 * hidden items, and co-visitation partners (the user's positive items within the session gap).
 * What the item side and the pattern matcher must do for the counted events is returned and also
 * kept in the state hash (`pend:<partition>`), so a redelivered batch can finish a second step that
 * a crash cut off. `tags` are the item's tags that some pattern rule looks at (comma-separated),
 * carried along so that the second step sees the tags the event was counted with.
 *
 * KEYS: state, seen, recent, positive, hidden, affinity, bucket_1 … bucket_B
 * ARGV: partition, allowedLatenessMs, stateTtlSec, recentMax, positiveMax, hiddenMax, hiddenTtlSec,
 *       sessionGapMs, maxPartners, affinityHalfLifeMs, B, ttlSec_1 … ttlSec_B,
 *       then per event: offset, eventId, occurredAt, itemId, category, action, weight, tags, k,
 *       bucketIndex_1 … k
 * Returns: { counted, late, duplicate, replayed, watermark, contributionsJson, pendingJsonOrEmpty }
 */
export const APPLY_USER_EVENTS_LUA = `${DECAY_ADD_LUA}
local state, seen, recent, pos, hidden, aff = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local part = ARGV[1]
local lateness = tonumber(ARGV[2])
local stateTtl = tonumber(ARGV[3])
local recentMax, posMax = tonumber(ARGV[4]), tonumber(ARGV[5])
local hiddenMax, hiddenTtl = tonumber(ARGV[6]), tonumber(ARGV[7])
local gap, maxPartners = tonumber(ARGV[8]), tonumber(ARGV[9])
local affHalf = tonumber(ARGV[10])
local nb = tonumber(ARGV[11])
local st = redis.call('HMGET', state, 'off:' .. part, 'wm')
local applied = tonumber(st[1] or '-1')
local wm = tonumber(st[2] or '0')
local counted, late, dup, replayed = 0, 0, 0, 0
local last = applied
local touched = {}
local out = {}
local bases = {}
local hid = false
local i = 12 + nb
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
  else
    last = offset
    if t < wm - lateness then
      late = late + 1
    elseif redis.call('ZADD', seen, 'NX', t, eventId) == 0 then
      dup = dup + 1
    else
      local field = cat .. '|' .. action
      for j = 1, k do
        local idx = tonumber(ARGV[i + 8 + j])
        redis.call('HINCRBY', KEYS[6 + idx], field, 1)
        touched[idx] = true
      end
      if w ~= 0 then decayAdd(aff, cat, w, t, affHalf, bases) end
      local partners = {}
      if w > 0 then
        local near = redis.call('ZRANGE', pos, t + gap, t - gap, 'BYSCORE', 'REV', 'LIMIT', 0, maxPartners + 1)
        for _, other in ipairs(near) do
          if other ~= itemId and #partners < maxPartners then partners[#partners + 1] = other end
        end
        redis.call('ZADD', pos, 'GT', t, itemId)
        redis.call('ZREMRANGEBYRANK', pos, 0, -(posMax + 1))
      end
      redis.call('ZADD', recent, 'GT', t, itemId)
      if action == 'HIDE' then
        redis.call('ZADD', hidden, 'GT', t, itemId)
        hid = true
      end
      out[#out + 1] = { ARGV[i], itemId, cat, action, t, w, partners, eventId, tags }
      if t > wm then wm = t end
      counted = counted + 1
    end
  end
  i = i + 9 + k
end
local pending = ''
if replayed > 0 then pending = redis.call('HGET', state, 'pend:' .. part) or '' end
local contributions = ''
if #out > 0 then contributions = cjson.encode(out) end
if last > applied then
  redis.call('HSET', state, 'off:' .. part, last, 'wm', wm)
  if #out > 0 then redis.call('HSET', state, 'pend:' .. part, contributions) end
  redis.call('EXPIRE', state, stateTtl)
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (wm - lateness))
  redis.call('EXPIRE', seen, stateTtl)
  if #out > 0 then
    redis.call('ZREMRANGEBYRANK', recent, 0, -(recentMax + 1))
    redis.call('EXPIRE', recent, stateTtl)
    redis.call('EXPIRE', pos, stateTtl)
    redis.call('EXPIRE', aff, stateTtl)
  end
  if hid then
    redis.call('ZREMRANGEBYRANK', hidden, 0, -(hiddenMax + 1))
    redis.call('EXPIRE', hidden, hiddenTtl)
  end
end
for idx, _ in pairs(touched) do
  redis.call('EXPIRE', KEYS[6 + idx], tonumber(ARGV[11 + idx]))
end
return { counted, late, dup, replayed, wm, contributions, pending }
`;

/**
 * One item's share of a batch: its window buckets, action totals and decayed popularity for
 * events on it, and its co-visitation partners. Contributions at or below the item's applied
 * offset for the partition are skipped, so re-sending a batch's item step is harmless.
 *
 * KEYS: stats, covisit, bucket_1 … bucket_B
 * ARGV: partition, popularityHalfLifeMs, covisitMax, covisitTtlSec, statsTtlSec, B, ttlSec_1 … ttlSec_B,
 *       then per contribution (ascending offsets): offset, occurredAt, action ('' = co-visit only),
 *       weight, k, bucketIndex_1 … k, p, partner_1 … partner_p
 * Returns: contributions applied
 */
export const APPLY_ITEM_LUA = `${DECAY_ADD_LUA}
local stats, covis = KEYS[1], KEYS[2]
local part = ARGV[1]
local popHalf = tonumber(ARGV[2])
local covisMax, covisTtl, statsTtl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local nb = tonumber(ARGV[6])
local applied = tonumber(redis.call('HGET', stats, 'off:' .. part) or '-1')
local last = applied
local n = 0
local bases = {}
local touched = {}
local paired = false
local i = 7 + nb
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  local t = tonumber(ARGV[i + 1])
  local action = ARGV[i + 2]
  local w = tonumber(ARGV[i + 3])
  local k = tonumber(ARGV[i + 4])
  local p = tonumber(ARGV[i + 5 + k])
  if offset > applied then
    if action ~= '' then
      for j = 1, k do
        local idx = tonumber(ARGV[i + 4 + j])
        redis.call('HINCRBY', KEYS[2 + idx], action, 1)
        touched[idx] = true
      end
      redis.call('HINCRBY', stats, 'n:' .. action, 1)
      if w ~= 0 then decayAdd(stats, 'pop', w, t, popHalf, bases, 'pop') end
    end
    for j = 1, p do
      redis.call('ZINCRBY', covis, 1, ARGV[i + 5 + k + j])
      paired = true
    end
    if offset > last then last = offset end
    n = n + 1
  end
  i = i + 6 + k + p
end
if last > applied then
  redis.call('HSET', stats, 'off:' .. part, last)
  redis.call('EXPIRE', stats, statsTtl)
end
if paired then
  redis.call('ZREMRANGEBYRANK', covis, 0, -(covisMax + 1))
  redis.call('EXPIRE', covis, covisTtl)
end
for idx, _ in pairs(touched) do
  redis.call('EXPIRE', KEYS[2 + idx], tonumber(ARGV[6 + idx]))
end
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
local touched = {}
local i = 4 + nb
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  if offset > applied then
    local idx = tonumber(ARGV[i + 3])
    redis.call('ZINCRBY', KEYS[1 + idx], tonumber(ARGV[i + 2]), ARGV[i + 1])
    touched[idx] = true
    if offset > last then last = offset end
    n = n + 1
  end
  i = i + 4
end
if last > applied then
  redis.call('HSET', state, 'off:' .. part, last)
  redis.call('EXPIRE', state, stateTtl)
end
for idx, _ in pairs(touched) do
  redis.call('EXPIRE', KEYS[1 + idx], tonumber(ARGV[3 + idx]))
end
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
