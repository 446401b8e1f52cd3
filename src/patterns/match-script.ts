/**
 * The pattern matcher's atomic step, as a Lua script registered once by name (see streams/apply.ts).
 * It runs in the stream worker's second step, once per user and batch, on the keys of one user
 * (one hash tag, one Redis Cluster slot), guarded by its own per-partition offset so that a
 * redelivered batch never adds an event or fires a match twice.
 *
 * Matching is on event time. The user's recent counted events (the user step already dropped
 * duplicates and events too late) are kept in a sorted set, ordered by event time, then by offset;
 * each call re-evaluates every rule over that set:
 *
 * - relaxed: a match starts at each event that fits the first step; it fires as soon as events
 *   after it (in event-time order) fit the remaining steps within the time bounds. A late event can
 *   only add such a match, never undo one, so firing at once is final.
 * - strict: the match is the run of consecutive events starting there. A late event landing inside
 *   the run would break it, so the match fires only once no event can land there any more: when its
 *   last event is at or before the watermark minus the allowed lateness (the user step refuses
 *   anything older), or when the run spans no time at all.
 *
 * A match is identified by its rule and its first event, and remembered (with the events) until the
 * first event leaves the set, so it fires at most once.
 *
 * KEYS: state, events, fired, log, tags
 * ARGV: partition, allowedLatenessMs, stateTtlSec, bufferMax, horizonMs, logMax, nowMs, rulesJson,
 *       then per contribution (ascending offsets): offset, occurredAt, member
 *       (member = offset padded to 20 digits | eventId | action | category | tag,tag,…)
 * rulesJson: [{ id, strict (0/1), within (ms or -1), span (ms), tag, ttl (ms), reason,
 *              steps: [{ a?: [actions], c?: [categories], g?: [tags], gap (ms or -1) }] }]
 * Returns: { bufferedEvents, partialMatches, undecidedMatches, firedRuleId… } or
 *          { -1 } when the call held nothing new (a redelivered batch).
 */
export const APPLY_PATTERNS_LUA = `
local stateKey, evKey, firedKey, logKey, tagKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local part = ARGV[1]
local lateness = tonumber(ARGV[2])
local stateTtl = tonumber(ARGV[3])
local bufferMax = tonumber(ARGV[4])
local horizon = tonumber(ARGV[5])
local logMax = tonumber(ARGV[6])
local now = tonumber(ARGV[7])
local rules = cjson.decode(ARGV[8])

local st = redis.call('HMGET', stateKey, 'off:' .. part, 'wm', 'floor')
local applied = tonumber(st[1] or '-1')
local wmPrev = tonumber(st[2] or '-1')
local floor = tonumber(st[3] or '-1')
local wm = wmPrev
local last = applied
local i = 9
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  if offset > applied then
    local t = tonumber(ARGV[i + 1])
    -- Every event held is above the floor, so the held events are all the user's counted events
    -- after it: a strict run among them is a run in the user's whole history. An event at or
    -- below the floor would sit among dropped events and could look adjacent to held events it is
    -- not adjacent to; it is left out (which can only lose a match that starts with it).
    if t > floor then redis.call('ZADD', evKey, t, ARGV[i + 2]) end
    if t > wm then wm = t end
    last = offset
  end
  i = i + 3
end
if last <= applied then return { -1 } end
redis.call('HSET', stateKey, 'off:' .. part, last, 'wm', wm)

local raw = redis.call('ZRANGE', evKey, 0, -1, 'WITHSCORES')
local ev = {}
for j = 1, #raw, 2 do
  local _, _, id, action, cat, tags = string.find(raw[j], '^[^|]*|([^|]*)|([^|]*)|([^|]*)|(.*)$')
  local tagset = {}
  for tg in string.gmatch(tags or '', '[^,]+') do tagset[tg] = true end
  ev[#ev + 1] = { t = tonumber(raw[j + 1]), id = id, a = action, c = cat, g = tagset }
end

local function asSet(list)
  if list == nil then return nil end
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end
for _, r in ipairs(rules) do
  for _, s in ipairs(r.steps) do
    s.as, s.cs, s.gs = asSet(s.a), asSet(s.c), asSet(s.g)
  end
end
local function fits(s, e)
  if s.as and not s.as[e.a] then return false end
  if s.cs and not s.cs[e.c] then return false end
  if s.gs then
    for tg in pairs(e.g) do
      if s.gs[tg] then return true end
    end
    return false
  end
  return true
end

local function spanText(ms)
  local secs = math.floor(ms / 1000)
  if secs < 60 then return secs .. 's' end
  local mins = math.floor(secs / 60)
  if mins < 60 then
    if secs % 60 == 0 then return mins .. 'm' end
    return mins .. 'm' .. (secs % 60) .. 's'
  end
  if mins % 60 == 0 then return math.floor(mins / 60) .. 'h' end
  return math.floor(mins / 60) .. 'h' .. (mins % 60) .. 'm'
end

local firedRules = {}
local partial, undecided = 0, 0
local seq = nil
local tagsWritten = false

local function isFired(r, first)
  return redis.call('ZSCORE', firedKey, r.id .. '|' .. first.id) ~= false
end

local function fire(r, idx)
  local first, lastE = ev[idx[1]], ev[idx[#idx]]
  redis.call('ZADD', firedKey, first.t, r.id .. '|' .. first.id)
  local ids = {}
  for _, x in ipairs(idx) do ids[#ids + 1] = ev[x].id end
  seq = redis.call('HINCRBY', stateKey, 'seq', 1)
  redis.call('ZADD', logKey, lastE.t, seq .. '|' .. r.id .. '|' .. table.concat(ids, ','))
  firedRules[#firedRules + 1] = r.id
  local since, untilT = lastE.t, lastE.t + r.ttl
  if untilT <= now then return end
  local reason = r.reason
  reason = (string.gsub(reason, '{count}', tostring(#idx)))
  reason = (string.gsub(reason, '{category}', lastE.c))
  reason = (string.gsub(reason, '{span}', spanText(lastE.t - first.t)))
  local cur = redis.call('HGET', tagKey, r.tag)
  local rec = nil
  if cur then rec = cjson.decode(cur) end
  if rec == nil or rec.u < since then
    rec = { s = since, u = untilT, r = r.id, why = reason, ev = ids }
  elseif untilT > rec.u then
    rec = { s = math.min(rec.s, since), u = untilT, r = r.id, why = reason, ev = ids }
  elseif since < rec.s and untilT >= rec.s then
    rec.s = since
  else
    return
  end
  redis.call('HSET', tagKey, r.tag, cjson.encode(rec))
  tagsWritten = true
end

-- The matches (as event indices) of a relaxed rule starting at event j: for each step, every event
-- that can hold it (after an event that can hold the previous step, within its gap and the rule's
-- span); then back from the earliest event that can hold the last step.
local function relaxedMatch(r, j)
  local n = #r.steps
  local first = ev[j]
  local valid = { { j } }
  for k = 2, n do
    local s = r.steps[k]
    local prev = valid[k - 1]
    local cur = {}
    local pi = 0
    for x = prev[1] + 1, #ev do
      local e = ev[x]
      if e.t - first.t > r.span then break end
      while pi < #prev and prev[pi + 1] < x do pi = pi + 1 end
      if pi > 0 and fits(s, e) and (s.gap < 0 or e.t - ev[prev[pi]].t <= s.gap)
        and (r.within < 0 or e.t - first.t <= r.within) then
        cur[#cur + 1] = x
      end
    end
    if #cur == 0 then return nil end
    valid[k] = cur
  end
  local idx = {}
  idx[n] = valid[n][1]
  for k = n - 1, 1, -1 do
    local nxt, gap = idx[k + 1], r.steps[k + 1].gap
    for _, p in ipairs(valid[k]) do
      if p < nxt and (gap < 0 or ev[nxt].t - ev[p].t <= gap) then idx[k] = p end
    end
  end
  return idx
end

-- The run of a strict rule starting at event j when its events fit; otherwise nil and the index of
-- the event that breaks the run (nil when the run just has too few events yet).
local function strictMatch(r, j)
  local n = #r.steps
  local first = ev[j]
  local idx = { j }
  for k = 2, n do
    local x = j + k - 1
    if x > #ev then return nil, nil end
    local e, p, s = ev[x], ev[x - 1], r.steps[k]
    if not fits(s, e) or (s.gap >= 0 and e.t - p.t > s.gap) or (r.within >= 0 and e.t - first.t > r.within) then
      return nil, x
    end
    idx[k] = x
  end
  return idx, nil
end

for _, r in ipairs(rules) do
  for j = 1, #ev do
    local first = ev[j]
    -- Starts whose span ended before the previous call's lateness bound were decided then.
    if first.t + r.span >= wmPrev - lateness and fits(r.steps[1], first) then
      local open = first.t + r.span >= wm - lateness
      if r.strict == 1 then
        local idx, broken = strictMatch(r, j)
        if idx then
          local lastT = ev[idx[#idx]].t
          if lastT <= wm - lateness or lastT == first.t then
            if not isFired(r, first) then fire(r, idx) end
          else
            undecided = undecided + 1
          end
        elseif open and (broken == nil or ev[broken].t > wm - lateness) then
          -- Still open: the run may grow, or a late event may yet land before the event that broke it.
          partial = partial + 1
        end
      elseif not isFired(r, first) then
        local idx = relaxedMatch(r, j)
        if idx then fire(r, idx) elseif open then partial = partial + 1 end
      end
    end
  end
end

-- Keep what can still be part of a match: events within the longest rule's span of anything a
-- future event (at or after the watermark minus the lateness) could complete; at most bufferMax.
local cutoff = wm - lateness - horizon
redis.call('ZREMRANGEBYSCORE', evKey, '-inf', '(' .. cutoff)
redis.call('ZREMRANGEBYSCORE', firedKey, '-inf', '(' .. cutoff)
local size = redis.call('ZCARD', evKey)
if size > bufferMax then
  local cut = redis.call('ZRANGE', evKey, size - bufferMax - 1, size - bufferMax - 1, 'WITHSCORES')
  local ft = tonumber(cut[2])
  -- Everything at the cut's event time goes too, so that every event held is above the floor.
  redis.call('ZREMRANGEBYSCORE', evKey, '-inf', ft)
  redis.call('ZREMRANGEBYSCORE', firedKey, '-inf', ft)
  if ft > floor then redis.call('HSET', stateKey, 'floor', ft) end
  size = redis.call('ZCARD', evKey)
end
if seq then redis.call('ZREMRANGEBYRANK', logKey, 0, -(logMax + 1)) end
for _, key in ipairs({ stateKey, evKey, firedKey, logKey }) do redis.call('EXPIRE', key, stateTtl) end
if tagsWritten then
  -- Drop expired tags; the hash lives as long as its longest tag.
  local all = redis.call('HGETALL', tagKey)
  local latest = now
  for j = 1, #all, 2 do
    local u = cjson.decode(all[j + 1]).u
    if u <= now then redis.call('HDEL', tagKey, all[j]) elseif u > latest then latest = u end
  end
  redis.call('EXPIRE', tagKey, math.max(1, math.ceil((latest - now) / 1000)) + 60)
end
local out = { size, partial, undecided }
for _, id in ipairs(firedRules) do out[#out + 1] = id end
return out
`;
