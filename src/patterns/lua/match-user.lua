-- The pattern matcher's atomic step. It runs in the stream worker's second step, once per user and
-- batch, on the keys of one user (one hash tag, one Redis Cluster slot), guarded by its own
-- per-partition offset so that a redelivered batch never adds an event or fires a match twice.
--
-- Matching is on event time. The user's recent counted events (the user step already dropped
-- duplicates and events too late) are kept in a sorted set, ordered by event time, then by offset;
-- each call re-evaluates every rule over that set:
--
-- - relaxed: a match starts at each event that fits the first step; it fires as soon as events
--   after it (in event-time order) fit the remaining steps within the time bounds. A late event can
--   only add such a match, never undo one, so firing at once is final.
-- - strict: the match is the run of consecutive events starting there. A late event landing inside
--   the run would break it, so the match fires only once no event can land there any more: when its
--   last event is at or before the watermark minus the allowed lateness (the user step refuses
--   anything older), or when the run spans no time at all. The watermark is the user step's: each
--   event moves it to its `clock` (its time, at most a little past when the API accepted it).
--
-- A match is identified by its rule and its first event, and remembered (with the events) until the
-- first event leaves the set, so it fires at most once.
--
-- Most calls only store events: a rule is evaluated only when a new event fits one of its steps
-- (a match is made of such events, so no other call can complete one), or, for a strict rule,
-- when a waiting run can be decided (the earliest such run's last event time is kept as `due`);
-- and then only the starts that can have changed are read.
--
-- KEYS: epoch, state, events, fired, log, tags
-- ARGV: epoch, partition, allowedLatenessMs, stateTtlSec, bufferMax, horizonMs, logMax, now, rulesJson,
--       then per contribution (ascending offsets): offset, occurredAt, clock, member, mask (one character
--       per rule, in rulesJson order: 1 when the event fits one of the rule's steps, else 0)
--       (member = offset padded to 20 digits | eventId | action | category | tag,tag,…)
-- rulesJson: [{ id, strict (0/1), within (ms or -1), span (ms), tag, ttl (ms), reason,
--              steps: [{ a?: [actions], c?: [categories], g?: [tags], gap (ms or -1) }] }]
-- Returns: { bufferedEvents, partialMatches, undecidedMatches, firedRuleId… } or
--          { -1 } when the call held nothing new (a redelivered batch).

-- @include ../../streams/lua/fence.lua

local stateKey, evKey, firedKey, logKey, tagKey = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local part = ARGV[2]
local lateness = tonumber(ARGV[3])
local stateTtl = tonumber(ARGV[4])
local bufferMax = tonumber(ARGV[5])
local horizon = tonumber(ARGV[6])
local logMax = tonumber(ARGV[7])
local now = tonumber(ARGV[8])

local st = redis.call('HMGET', stateKey, 'off:' .. part, 'wm', 'floor', 'due', 'np', 'nu')
local applied = tonumber(st[1] or '-1')
local wm = tonumber(st[2] or '-1')
local floor = tonumber(st[3] or '-1')
-- The last event time of the earliest complete strict run still undecided (nil: none).
local due = tonumber(st[4] or '')
local partial, undecided = tonumber(st[5] or '0'), tonumber(st[6] or '0')
local last = applied
-- Per rule (by position), the earliest and latest event time of the new events that fit one of its steps.
local newMin, newMax = {}, {}
local anyNew = false
local i = 10
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  if offset > applied then
    local t = tonumber(ARGV[i + 1])
    local clock = tonumber(ARGV[i + 2])
    -- Every event held is above the floor, so the held events are all the user's counted events
    -- after it: a strict run among them is a run in the user's whole history. An event at or
    -- below the floor would sit among dropped events and could look adjacent to held events it is
    -- not adjacent to; it is left out (which can only lose a match that starts with it).
    if t > floor then
      redis.call('ZADD', evKey, t, ARGV[i + 3])
      local mask = ARGV[i + 4]
      for x = 1, #mask do
        if string.byte(mask, x) == 49 then
          if newMin[x] == nil or t < newMin[x] then newMin[x] = t end
          if newMax[x] == nil or t > newMax[x] then newMax[x] = t end
          anyNew = true
        end
      end
    end
    if clock > wm then wm = clock end
    last = offset
  end
  i = i + 5
end
if last <= applied then return { -1 } end
local state = { 'off:' .. part, last, 'wm', wm }

local firedRules = {}
local seq = nil
local tagsWritten = false

local dueNow = due ~= nil and due <= wm - lateness
if anyNew or dueNow then
  local rules = cjson.decode(ARGV[9])
  -- Per rule, the earliest start that can have changed: a match not fired yet contains a new
  -- event of the rule, or is a strict run waiting to be decided (ending at or after `due`).
  local lo = nil
  for x, r in ipairs(rules) do
    if newMin[x] ~= nil then r.lo = newMin[x] - r.span end
    if r.strict == 1 and dueNow and (r.lo == nil or due - r.span < r.lo) then r.lo = due - r.span end
    if r.lo ~= nil and (lo == nil or r.lo < lo) then lo = r.lo end
  end
  -- A `due` left by rules no longer in the file: nothing to read, and it is dropped below.
  if lo == nil then lo = wm + 1 end
  local raw = redis.call('ZRANGE', evKey, string.format('%d', math.floor(lo)), '+inf', 'BYSCORE', 'WITHSCORES')
  local T, ID, A, C, G = {}, {}, {}, {}, {}
  local m = 0
  for j = 1, #raw, 2 do
    m = m + 1
    ID[m], A[m], C[m], G[m] = string.match(raw[j], '^[^|]*|([^|]*)|([^|]*)|([^|]*)|(.*)$')
    T[m] = tonumber(raw[j + 1])
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
  local function fits(s, x)
    if s.as and not s.as[A[x]] then return false end
    if s.cs and not s.cs[C[x]] then return false end
    if s.gs then
      for tg in string.gmatch(G[x], '[^,]+') do
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

  local function isFired(r, j)
    return redis.call('ZSCORE', firedKey, r.id .. '|' .. ID[j]) ~= false
  end

  local function fire(r, idx)
    local first, lastX = idx[1], idx[#idx]
    redis.call('ZADD', firedKey, T[first], r.id .. '|' .. ID[first])
    local ids = {}
    for _, x in ipairs(idx) do ids[#ids + 1] = ID[x] end
    seq = redis.call('HINCRBY', stateKey, 'seq', 1)
    redis.call('ZADD', logKey, T[lastX], seq .. '|' .. r.id .. '|' .. table.concat(ids, ','))
    firedRules[#firedRules + 1] = r.id
    local since, untilT = T[lastX], T[lastX] + r.ttl
    if untilT <= now then return end
    local reason = r.reason
    reason = (string.gsub(reason, '{count}', tostring(#idx)))
    reason = (string.gsub(reason, '{category}', C[lastX]))
    reason = (string.gsub(reason, '{span}', spanText(T[lastX] - T[first])))
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

  -- A relaxed rule's match starting at event j: for each step, every event that can hold it (after
  -- an event that can hold the previous step, within its gap and the rule's span); then back from
  -- the earliest event that can hold the last step.
  local function relaxedMatch(r, j)
    local n = #r.steps
    local valid = { { j } }
    for k = 2, n do
      local s = r.steps[k]
      local prev = valid[k - 1]
      local cur = {}
      local pi = 0
      for x = prev[1] + 1, m do
        if T[x] - T[j] > r.span then break end
        while pi < #prev and prev[pi + 1] < x do pi = pi + 1 end
        if pi > 0 and fits(s, x) and (s.gap < 0 or T[x] - T[prev[pi]] <= s.gap)
          and (r.within < 0 or T[x] - T[j] <= r.within) then
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
        if p < nxt and (gap < 0 or T[nxt] - T[p] <= gap) then idx[k] = p end
      end
    end
    return idx
  end

  -- The run of a strict rule starting at event j when its events fit; otherwise nil and the index
  -- of the event that breaks the run (nil when the run just has too few events yet).
  local function strictMatch(r, j)
    local idx = { j }
    for k = 2, #r.steps do
      local x = j + k - 1
      if x > m then return nil, nil end
      local s = r.steps[k]
      if not fits(s, x) or (s.gap >= 0 and T[x] - T[x - 1] > s.gap) or (r.within >= 0 and T[x] - T[j] > r.within) then
        return nil, x
      end
      idx[k] = x
    end
    return idx, nil
  end

  -- Waiting runs this call does not look at stay waiting: keep their `due`.
  local keepDue = nil
  if not dueNow then keepDue = due end
  partial, undecided, due = 0, 0, keepDue
  for x, r in ipairs(rules) do
    if r.lo ~= nil then
      for j = 1, m do
        if T[j] >= r.lo and (r.strict == 1 or T[j] <= newMax[x]) and fits(r.steps[1], j) then
          local open = T[j] + r.span >= wm - lateness
          if r.strict == 1 then
            local idx, broken = strictMatch(r, j)
            if idx then
              local lastT = T[idx[#idx]]
              if lastT <= wm - lateness or lastT == T[j] then
                if not isFired(r, j) then fire(r, idx) end
              else
                undecided = undecided + 1
                if due == nil or lastT < due then due = lastT end
              end
            elseif open and (broken == nil or T[broken] > wm - lateness) then
              -- Still open: the run may grow, or a late event may yet land before the event that broke it.
              partial = partial + 1
            end
          elseif not isFired(r, j) then
            local idx = relaxedMatch(r, j)
            if idx then fire(r, idx) elseif open then partial = partial + 1 end
          end
        end
      end
    end
  end
  for _, v in ipairs({ 'np', partial, 'nu', undecided }) do state[#state + 1] = v end
  if due ~= nil then
    state[#state + 1] = 'due'
    state[#state + 1] = due
  else
    redis.call('HDEL', stateKey, 'due')
  end
end
redis.call('HSET', stateKey, unpack(state))

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
