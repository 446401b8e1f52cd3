-- The pattern matcher's atomic step. It runs in the stream worker's second step, once per user and
-- batch, on the keys of one user (one hash tag, one Redis Cluster slot), guarded by its own
-- per-partition offset so that a redelivered batch never adds an event or fires a match twice.
--
-- Matching is on event time. The user's recent counted events (the user step already dropped
-- duplicates and events too late) are kept in a sorted set, ordered by event time, then by offset;
-- each call re-evaluates the rules over that set, and every match fires as soon as it is complete:
--
-- - relaxed: a match starts at each event that fits the first step; it fires as soon as events
--   after it (in event-time order) fit the remaining steps within the time bounds. A late event can
--   only add such a match, never undo one, so it is final at once.
-- - strict: the match is the run of consecutive events starting there. It fires at once too, but a
--   late event landing inside the run would break it: until its last event is at or before the
--   watermark minus the allowed lateness (the user step refuses anything older), or when the run
--   spans no time at all, the match is provisional (kept in the state's `pv` with its events). A
--   late event that breaks a provisional run withdraws it (logged with the event that broke it); one
--   that changes which events make the run withdraws it and fires the new run. The watermark is the
--   user step's: each event moves it to its `clock` (its time, at most a little past when the API
--   accepted it).
--
-- A match is identified by its rule and its first event, and remembered until the first event
-- leaves the set, so it fires at most once (again only after a withdrawal). The match log holds
-- `seq|rule|eventIds` for a match fired and `seq|rule|eventIds|reason` for one withdrawn.
--
-- Tags: each tag's record (a field of the tags hash, what readers see: since, until, rule, reason,
-- events) folds the final matches with the provisional ones, so a withdrawal takes back exactly what
-- its match added. While provisional matches exist, the fold of the final ones alone is kept in the
-- record as `f` (false: none); a record without `f` is all final.
--
-- Most calls only store events: a rule is evaluated only when a new event fits one of its steps
-- (a match is made of such events, so no other call can complete one), or, for a strict rule while
-- provisional matches exist, when any new event arrives (it may land inside one of them); and then
-- only the starts that can have changed are read.
--
-- KEYS: epoch, state, events, fired, log, tags
-- ARGV: epoch, partition, allowedLatenessMs, stateTtlSec, bufferMax, horizonMs, logMax, now, ttlRefreshMs, rulesJson,
--       then per contribution (ascending offsets): offset, occurredAt, clock, member, mask (one character
--       per rule, in rulesJson order: 1 when the event fits one of the rule's steps, else 0)
--       (member = offset as its digit count and its digits in base 36 | eventId | action code | category |
--       tag,tag,…; a step's actions `a` list the codes, and the names, which members written before the
--       codes hold)
-- rulesJson: [{ id, strict (0/1), within (ms or -1), span (ms), tag, ttl (ms), reason,
--              steps: [{ a?: [actions], c?: [categories], g?: [tags], gap (ms or -1) }] }]
-- Returns: { bufferedEvents, partialMatches, provisionalMatches, fired, withdrawn, tagChanges } (the
--          last three comma-separated: rule ids fired, rule ids withdrawn, `+tag` / `-tag` for each
--          tag that appeared or went) or { -1 } when the call held nothing new (a redelivered batch).

-- @include ../../streams/lua/fence.lua

local stateKey, evKey, firedKey, logKey, tagKey = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local part = ARGV[2]
local lateness = tonumber(ARGV[3])
local stateTtl = tonumber(ARGV[4])
local bufferMax = tonumber(ARGV[5])
local horizon = tonumber(ARGV[6])
local logMax = tonumber(ARGV[7])
local now = tonumber(ARGV[8])
local refreshMs = tonumber(ARGV[9])

local st = redis.call('HMGET', stateKey, 'off:' .. part, 'wm', 'floor', 'pv', 'np', 'due', 'sz', 'tc', 'x')
local applied = tonumber(st[1] or '-1')
local wm = tonumber(st[2] or '-1')
local floor = tonumber(st[3] or '-1')
-- Provisional strict matches, by `rule|firstEventId`: { r = rule, t = tag, e = eventIds (comma-
-- separated), l = last event time, u = tag until, w = reason, q = seq }.
local pv = {}
if st[4] then pv = cjson.decode(st[4]) end
local partial = tonumber(st[5] or '0')
-- Written by an earlier version of this script (strict runs waiting to be decided): looked at once.
local legacyDue = tonumber(st[6] or '')
-- The buffer's size, the cutoff it was last trimmed to and when the keys' TTLs were last set (state
-- written before these were kept: counted once).
local size = tonumber(st[7] or '')
if size == nil then size = redis.call('ZCARD', evKey) end
local trimmedTo = tonumber(st[8] or '-1')
local refreshed = tonumber(st[9] or '-1')
local wasEmpty = size == 0
local last = applied
-- The new events' members, written with one ZADD after the loop.
local adds = {}
-- Per rule (by position), the earliest and latest event time of the new events that fit one of its steps.
local newMin, newMax = {}, {}
local anyNew = false
-- The earliest event time among all new events held (nil: none).
local allMin = nil
local i = 11
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
      adds[#adds + 1] = t
      adds[#adds + 1] = ARGV[i + 3]
      if allMin == nil or t < allMin then allMin = t end
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
for j = 1, #adds, 1000 do size = size + redis.call('ZADD', evKey, unpack(adds, j, math.min(j + 999, #adds))) end
local state = { 'off:' .. part, last, 'wm', wm }

local firedRules, withdrawnRules = {}, {}
local seq = nil
-- Tags whose record must be recomputed, each tag's final record (false: none), and whether the
-- record as read was in force (its view's until past `now`): read once per tag and call.
local touched, finals, wasShown = {}, {}, {}
local hasPv = next(pv) ~= nil
local rules = nil

local function finalOf(tag)
  if finals[tag] == nil then
    local cur = redis.call('HGET', tagKey, tag)
    local rec = false
    wasShown[tag] = false
    if cur then
      local d = cjson.decode(cur)
      wasShown[tag] = d.u ~= nil and d.u > now
      -- `f` is false while only provisional matches make the record.
      if d.f ~= nil then rec = d.f elseif d.s ~= nil then rec = d end
    end
    finals[tag] = rec
  end
  return finals[tag]
end

-- A match's share of a tag record: the record after it (nil: unchanged). A match whose tag would
-- already have ended adds nothing; a later one extends the record, an earlier overlapping one
-- moves its start.
local function foldMatch(rec, m)
  local since, untilT = m.l, m.u
  if untilT <= now then return nil end
  if not rec or rec.u < since then
    return { s = since, u = untilT, r = m.r, why = m.w, ev = m.ev }
  elseif untilT > rec.u then
    return { s = math.min(rec.s, since), u = untilT, r = m.r, why = m.w, ev = m.ev }
  elseif since < rec.s and untilT >= rec.s then
    return { s = since, u = rec.u, r = rec.r, why = rec.why, ev = rec.ev }
  end
  return nil
end

local function splitIds(csv)
  local ids = {}
  for id in string.gmatch(csv, '[^,]+') do ids[#ids + 1] = id end
  return ids
end

local function makeFinal(tag, m)
  local rec = foldMatch(finalOf(tag), { l = m.l, u = m.u, r = m.r, w = m.w, ev = splitIds(m.e) })
  if rec then finals[tag] = rec end
  touched[tag] = true
end

if anyNew or (hasPv and allMin ~= nil) or legacyDue ~= nil then
  rules = cjson.decode(ARGV[10])
  -- Per rule, the earliest start that can have changed: a match not fired yet contains a new
  -- event of the rule; for a strict rule while provisional matches exist, any new event may land
  -- inside one of them.
  local lo = nil
  for x, r in ipairs(rules) do
    if newMin[x] ~= nil then r.lo = newMin[x] - r.span end
    if r.strict == 1 then
      local from = nil
      if hasPv and allMin ~= nil then from = allMin end
      if legacyDue ~= nil and (from == nil or legacyDue < from) then from = legacyDue end
      if from ~= nil and (r.lo == nil or from - r.span < r.lo) then r.lo = from - r.span end
    end
    if r.lo ~= nil and (lo == nil or r.lo < lo) then lo = r.lo end
  end
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

  -- The fired matches held, read once when first asked about.
  local firedSet = nil
  local function isFired(r, j)
    if firedSet == nil then
      firedSet = {}
      for _, key in ipairs(redis.call('ZRANGE', firedKey, 0, -1)) do firedSet[key] = true end
    end
    return firedSet[r.id .. '|' .. ID[j]] == true
  end

  local function reasonOf(r, idx)
    local first, lastX = idx[1], idx[#idx]
    local reason = r.reason
    reason = (string.gsub(reason, '{count}', tostring(#idx)))
    reason = (string.gsub(reason, '{category}', C[lastX]))
    reason = (string.gsub(reason, '{span}', spanText(T[lastX] - T[first])))
    return reason
  end

  local function fire(r, idx, provisional)
    local first, lastX = idx[1], idx[#idx]
    local key = r.id .. '|' .. ID[first]
    redis.call('ZADD', firedKey, T[first], key)
    if firedSet then firedSet[key] = true end
    local ids = {}
    for _, x in ipairs(idx) do ids[#ids + 1] = ID[x] end
    local csv = table.concat(ids, ',')
    seq = redis.call('HINCRBY', stateKey, 'seq', 1)
    redis.call('ZADD', logKey, T[lastX], seq .. '|' .. r.id .. '|' .. csv)
    firedRules[#firedRules + 1] = r.id
    local match = { r = r.id, t = r.tag, e = csv, l = T[lastX], u = T[lastX] + r.ttl, w = reasonOf(r, idx), q = seq }
    if provisional then
      pv[key] = match
      touched[r.tag] = true
    else
      makeFinal(r.tag, match)
    end
  end

  -- Takes back a provisional match: logged with the reason, its share of the tag removed.
  local function withdraw(r, key, p, why)
    redis.call('ZREM', firedKey, key)
    if firedSet then firedSet[key] = nil end
    seq = redis.call('HINCRBY', stateKey, 'seq', 1)
    redis.call('ZADD', logKey, p.l, seq .. '|' .. r.id .. '|' .. p.e .. '|' .. why)
    withdrawnRules[#withdrawnRules + 1] = r.id
    pv[key] = nil
    touched[r.tag] = true
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

  partial = 0
  for x, r in ipairs(rules) do
    if r.lo ~= nil then
      for j = 1, m do
        if T[j] >= r.lo and (r.strict == 1 or T[j] <= newMax[x]) and fits(r.steps[1], j) then
          local open = T[j] + r.span >= wm - lateness
          if r.strict == 1 then
            local key = r.id .. '|' .. ID[j]
            local p = pv[key]
            local idx, broken = strictMatch(r, j)
            if idx then
              local ids = {}
              for _, y in ipairs(idx) do ids[#ids + 1] = ID[y] end
              if p and p.e ~= table.concat(ids, ',') then
                withdraw(r, key, p, 'a late event changed the run')
                p = nil
              end
              if not p and not isFired(r, j) then
                local lastT = T[idx[#idx]]
                fire(r, idx, lastT > wm - lateness and lastT ~= T[j])
              end
            else
              if p then
                local why = 'the run was broken'
                if broken then why = 'late event ' .. ID[broken] .. ' broke the run' end
                withdraw(r, key, p, why)
              end
              if open and (broken == nil or T[broken] > wm - lateness) then
                -- Still open: the run may grow, or a late event may yet land before the event that broke it.
                partial = partial + 1
              end
            end
          elseif not isFired(r, j) then
            local idx = relaxedMatch(r, j)
            if idx then fire(r, idx, false) elseif open then partial = partial + 1 end
          end
        end
      end
    end
  end
end
if legacyDue ~= nil then redis.call('HDEL', stateKey, 'due', 'nu') end

-- Provisional matches no late event can reach any more are final now (oldest fired first).
local decided = {}
for key, p in pairs(pv) do
  if p.l <= wm - lateness then decided[#decided + 1] = key end
end
table.sort(decided, function(a, b) return pv[a].q < pv[b].q end)
for _, key in ipairs(decided) do
  makeFinal(pv[key].t, pv[key])
  pv[key] = nil
end
local provisional = 0
for _ in pairs(pv) do provisional = provisional + 1 end
for _, v in ipairs({ 'np', partial }) do state[#state + 1] = v end
if provisional > 0 then
  state[#state + 1] = 'pv'
  state[#state + 1] = cjson.encode(pv)
elseif hasPv then
  redis.call('HDEL', stateKey, 'pv')
end

-- Each touched tag: its final record folded with its provisional matches (oldest fired first).
local tagChanges = {}
local tagsWritten = false
local touchedList = {}
for tag in pairs(touched) do touchedList[#touchedList + 1] = tag end
table.sort(touchedList)
for _, tag in ipairs(touchedList) do
  local final = finalOf(tag)
  local view = final
  local mine = {}
  for _, p in pairs(pv) do if p.t == tag then mine[#mine + 1] = p end end
  table.sort(mine, function(a, b) return a.q < b.q end)
  for _, p in ipairs(mine) do
    local rec = foldMatch(view, { l = p.l, u = p.u, r = p.r, w = p.w, ev = splitIds(p.e) })
    if rec then view = rec end
  end
  local had = wasShown[tag]
  local has = view and view.u > now
  if view then
    -- The final record is kept beside the view only while provisional matches make the two differ.
    local out = { s = view.s, u = view.u, r = view.r, why = view.why, ev = view.ev }
    if #mine > 0 then out.f = final end
    redis.call('HSET', tagKey, tag, cjson.encode(out))
  else
    redis.call('HDEL', tagKey, tag)
  end
  tagsWritten = true
  if has and not had then tagChanges[#tagChanges + 1] = '+' .. tag end
  if had and not has then tagChanges[#tagChanges + 1] = '-' .. tag end
end

-- Keep what can still be part of a match: events within the longest rule's span of anything a
-- future event (at or after the watermark minus the lateness) could complete; at most bufferMax.
-- Events below the cutoff are never read again (every read starts at or above it), so they are
-- dropped once the cutoff has moved half the lateness on, or before the size is checked
-- against bufferMax.
local cutoff = wm - lateness - horizon
local trim = {}
if cutoff - trimmedTo >= lateness / 2 or size > bufferMax then
  size = size - redis.call('ZREMRANGEBYSCORE', evKey, '-inf', '(' .. cutoff)
  redis.call('ZREMRANGEBYSCORE', firedKey, '-inf', '(' .. cutoff)
  trim = { 'tc', cutoff }
end
if size > bufferMax then
  local cut = redis.call('ZRANGE', evKey, size - bufferMax - 1, size - bufferMax - 1, 'WITHSCORES')
  local ft = tonumber(cut[2])
  -- Everything at the cut's event time goes too, so that every event held is above the floor.
  size = size - redis.call('ZREMRANGEBYSCORE', evKey, '-inf', ft)
  redis.call('ZREMRANGEBYSCORE', firedKey, '-inf', ft)
  if ft > floor then
    trim[#trim + 1] = 'floor'
    trim[#trim + 1] = ft
  end
end
if seq then redis.call('ZREMRANGEBYRANK', logKey, 0, -(logMax + 1)) end
-- TTLs: set when a key appears (the state's first write, the buffer's first event, a fired or
-- withdrawn match), refreshed at most once per refreshMs.
local refresh = refreshed < 0 or now - refreshed >= refreshMs
for _, v in ipairs({ 'sz', size }) do state[#state + 1] = v end
for _, v in ipairs(trim) do state[#state + 1] = v end
if refresh then
  state[#state + 1] = 'x'
  state[#state + 1] = now
end
redis.call('HSET', stateKey, unpack(state))
if refresh then redis.call('EXPIRE', stateKey, stateTtl) end
if refresh or (wasEmpty and #adds > 0) then redis.call('EXPIRE', evKey, stateTtl) end
if refresh or seq then
  redis.call('EXPIRE', firedKey, stateTtl)
  redis.call('EXPIRE', logKey, stateTtl)
end
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
return {
  size,
  partial,
  provisional,
  table.concat(firedRules, ','),
  table.concat(withdrawnRules, ','),
  table.concat(tagChanges, ','),
}
