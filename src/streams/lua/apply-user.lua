-- One user's events from one batch: dedupe (per-partition offset, then eventId), lateness against
-- the user's watermark, window buckets, decayed category affinity, recent / positive / hidden
-- items, and co-engagement partners (the user's newest engaged items within the horizon).
-- What the item side and the pattern matcher must do for the counted events is returned and also
-- noted in the user's pending key of the partition (a string: the counted offsets, `!` after one
-- the item side must not weigh, and their co-visitation partners, `offset=partner,partner;offset!=`;
-- the rest comes from the redelivered records themselves), so a redelivered batch can finish a
-- second step that a crash cut off. Consecutive notes' partners overlap (the user's newest engaged
-- items): where shorter, a run of partners that the previous note with partners lists in the same
-- order is written `^first-last` (their positions there, from 1). New notes are added to the ones
-- kept, which are dropped only once their offset is at or below settledOffset (the partition's
-- offset through which the second step is known to have succeeded; -1: not known): a redelivery
-- that fails again loses nothing. The notes are read only when a call needs them (a redelivered
-- offset, or kept notes that may not be settled: settledOffset below the partition's applied
-- offset); they are not in the state hash, whose small fields then stay in Redis' compact
-- encoding. Notes an earlier version kept in the state hash (`pend:<partition>`) are taken over.
-- `tags` are the item's tags that some pattern rule looks at (comma-separated), carried along so
-- that the second step sees the tags the event was counted with.
--
-- The watermark (`wm`) is the latest event time, but an event moves it to at most its receivedAt +
-- maxAheadMs: a client clock minutes ahead cannot make the user's next events late.
--
-- Repeats saturate: per (item, trending bucket) only the user's first capMax counted events weigh on
-- the item side (popularity, trending) and find co-engagement partners; later ones are `capped`.
-- The counts are fields of the windows hash, `c:<trending bucket index>|itemId` (the event names
-- the prefix; bucket index = bucket start / capBucketMs, in base 36).
--
-- Window counts live in one hash per user (`windows`), fields `<window>:<bucket index>|category|<action
-- code>` (bucket index = bucket start / bucket length, in base 36; one character per action), each
-- event naming its fields' prefixes and its action's code. The hash lives windowsTtlSec past the
-- newest bucket written, plus up to five minutes so that its TTL is set at most once in five
-- minutes (extended, never shortened: `we` in the state is the expiry set), and at
-- most once a minute (`wp`) the fields of buckets that no window can read any more are dropped:
-- windows end at the user's watermark, which never moves back, so a bucket starting a window length
-- or more before the watermark's bucket is never read again (windowSpec: `name:bucketMs:lengthMs,…`).
-- A cap field is dropped once its trending bucket can take no more events: its end plus the allowed
-- lateness is at or before the watermark.
--
-- KEYS: epoch, state, seen, recent, positive, hidden, affinity, windows, pending
-- ARGV: epoch, partition, allowedLatenessMs, stateTtlSec, recentMax, positiveMax, hiddenMax, hiddenTtlSec,
--       horizonMs, maxPartners, minPartnerWeight, affinityHalfLifeMs, now, ttlRefreshMs, maxAheadMs,
--       capMax, settledOffset, windowsTtlSec, windowSpec, capBucketMs, then per event: offset, eventId,
--       occurredAt, receivedAt, itemId, category, action, actionCode, weight, tags, capField
--       (`c:<bucket index>`), k, windowField_1 … windowField_k
-- Returns: { counted, late, duplicate, replayed, watermark, contributionsJson, rehandedJson }, each
--          JSON '' or a list of [offset, itemId, category, action, occurredAt, weight, partners,
--          eventId, tags, capped, clock] (clock: how far the event moves a watermark, min(occurredAt,
--          receivedAt + maxAheadMs); rehanded: what a redelivered batch's earlier call left for the
--          second step)
--
-- State fields besides offsets and `wm`: `x` (last TTL refresh), `ts` (watermark at the last
-- dedupe trim), `rn` / `pn` (how many items recent / positive hold), `fk` (which
-- long-lived keys have a TTL), `we` / `wp` (the windows hash's expiry and last pruning), and the
-- decayed category affinity, `a:<category>` beside its base time `a:_b` (read with the state and
-- written with it: no key of its own; the `affinity` key is only read to take over what an earlier
-- version kept there).

-- @include fence.lua
-- @include common.lua

local state, seen, recent, pos, hidden, aff, win = KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local pendKey = KEYS[9]
local part = ARGV[2]
local lateness = tonumber(ARGV[3])
local stateTtl = tonumber(ARGV[4])
local recentMax, posMax = tonumber(ARGV[5]), tonumber(ARGV[6])
local hiddenMax, hiddenTtl = tonumber(ARGV[7]), tonumber(ARGV[8])
local horizon, maxPartners, minPartnerWeight = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local affHalf = tonumber(ARGV[12])
local now, refreshMs = tonumber(ARGV[13]), tonumber(ARGV[14])
local maxAhead, capMax = tonumber(ARGV[15]), tonumber(ARGV[16])
local settled = tonumber(ARGV[17])
local winTtl, winSpec = tonumber(ARGV[18]), ARGV[19]
local capBucket = tonumber(ARGV[20])
local WIN_TTL_SLACK_SEC = 300
-- The state, and the affinity of every category the call's events name (fields `a:<category>`,
-- beside their base `a:_b`).
local stateFields = { 'off:' .. part, 'wm', 'x', 'ts', 'rn', 'pn', 'fk', 'pend:' .. part, 'we', 'wp', 'a:_b' }
local affAt = {}
do
  local j = 21
  while j <= #ARGV do
    local cat = ARGV[j + 5]
    if affAt[cat] == nil then
      stateFields[#stateFields + 1] = 'a:' .. cat
      affAt[cat] = #stateFields
    end
    j = j + 12 + tonumber(ARGV[j + 11])
  end
end
local st = redis.call('HMGET', state, unpack(stateFields))
local applied = tonumber(st[1] or '-1')
local wm = tonumber(st[2] or '0')
local refreshed = tonumber(st[3] or '-1')
local trimmedAt = tonumber(st[4] or '0')
-- How many items the recent and engaged sets hold (state written before the sizes were kept:
-- counted once).
local recentSize, posSize = tonumber(st[5] or ''), tonumber(st[6] or '')
-- (`ra` / `pa` of state written before, the additions since the last trim, are dropped.)
local legacySizes = recentSize == nil
if legacySizes then
  recentSize, posSize = redis.call('ZCARD', recent), redis.call('ZCARD', pos)
end
local flags = st[7] or ''
local legacy = st[8]
-- The notes kept from earlier calls of this partition, read once when first needed.
local kept = nil
local function keptNotes()
  if kept == nil then
    kept = redis.call('GET', pendKey) or ''
    if legacy then kept = legacy .. ';' .. kept end
  end
  return kept
end
local winExpiry, winPruned = tonumber(st[9] or '0'), tonumber(st[10] or '0')

-- Notes as a list of { offset, capped (0/1), partners } and back.
local function decodeNotes(text)
  local list, prev = {}, {}
  for entry in string.gmatch(text, '[^;]+') do
    local o, body = string.match(entry, '^([^=]+)=?(.*)$')
    local c = 0
    if string.sub(o, -1) == '!' then
      o = string.sub(o, 1, -2)
      c = 1
    end
    local ps = {}
    for token in string.gmatch(body, '[^,]+') do
      local a, b = string.match(token, '^%^(%d+)%-(%d+)$')
      if a then
        for x = tonumber(a), tonumber(b) do ps[#ps + 1] = prev[x] end
      else
        ps[#ps + 1] = token
      end
    end
    if #ps > 0 then prev = ps end
    list[#list + 1] = { o, c, ps }
  end
  return list
end
local function encodeNotes(list)
  local entries, prev, at = {}, {}, {}
  for _, note in ipairs(list) do
    local ps, tokens, j = note[3], {}, 1
    while j <= #ps do
      local x = at[ps[j]]
      local n = 0
      if x then
        while ps[j + n + 1] ~= nil and prev[x + n + 1] == ps[j + n + 1] do n = n + 1 end
      end
      local ref = x and ('^' .. x .. '-' .. (x + n))
      local plain = table.concat(ps, ',', j, j + n)
      if ref and #ref < #plain then
        tokens[#tokens + 1] = ref
        j = j + n + 1
      else
        tokens[#tokens + 1] = ps[j]
        j = j + 1
      end
    end
    if #ps > 0 then
      prev, at = ps, {}
      for y, p in ipairs(ps) do at[p] = y end
    end
    local mark = ''
    if note[2] == 1 then mark = '!' end
    entries[#entries + 1] = note[1] .. mark .. '=' .. table.concat(tokens, ',')
  end
  return table.concat(entries, ';')
end
local counted, late, dup, replayed = 0, 0, 0, 0
local last = applied
local incs = {}
local affAdds = {}
local out = {}
local pendMap = nil
local rehanded = {}
local notes = {}

-- One read of everything the new events may find: their eventIds in the dedupe set, and their
-- window and cap fields in the windows hash; the engaged items (with their times) only when an
-- event may look for partners. The loop then works on these copies and the writes go out once each
-- at the end, so a call costs the same few commands however many events it carries.
local ids, winFields, fieldAt = {}, {}, {}
local wantPos = false
local function want(f)
  if fieldAt[f] == nil then
    winFields[#winFields + 1] = f
    fieldAt[f] = #winFields
  end
end
local i = 21
while i <= #ARGV do
  local k = tonumber(ARGV[i + 11])
  if tonumber(ARGV[i]) > applied then
    ids[#ids + 1] = ARGV[i + 1]
    local field = ARGV[i + 5] .. '|' .. ARGV[i + 7]
    for j = 1, k do want(ARGV[i + 11 + j] .. '|' .. field) end
    want(ARGV[i + 10] .. '|' .. ARGV[i + 4])
    if tonumber(ARGV[i + 8]) >= minPartnerWeight then wantPos = true end
  end
  i = i + 12 + k
end
local known = {}
for j = 1, #ids, 500 do
  local scores = redis.call('ZMSCORE', seen, unpack(ids, j, math.min(j + 499, #ids)))
  for q = 1, math.min(500, #ids - j + 1) do
    if scores[q] then known[ids[j + q - 1]] = true end
  end
end
local winValues = {}
for j = 1, #winFields, 500 do
  local values = redis.call('HMGET', win, unpack(winFields, j, math.min(j + 499, #winFields)))
  for q = 1, math.min(500, #winFields - j + 1) do winValues[winFields[j + q - 1]] = tonumber(values[q] or '0') end
end
-- The engaged items newest first (as ZRANGE … REV orders them: by time, then by member, both
-- descending), their times, and which of them this call moved.
local posOrder, posAt, posMoved = {}, {}, {}
if wantPos then
  local all = redis.call('ZRANGE', pos, 0, -1, 'REV', 'WITHSCORES')
  for j = 1, #all, 2 do
    posOrder[#posOrder + 1] = all[j]
    posAt[all[j]] = tonumber(all[j + 1])
  end
end
-- Byte order, as Redis orders sorted-set members of equal score.
local function before(a, b)
  local n = math.min(#a, #b)
  for j = 1, n do
    local x, y = string.byte(a, j), string.byte(b, j)
    if x ~= y then return x < y end
  end
  return #a < #b
end
-- Whether (at, a) comes before (bt, b) newest first.
local function newer(at, a, bt, b)
  if at ~= bt then return at > bt end
  return a ~= b and before(b, a)
end
-- Moves (or adds) an engaged item to time t, keeping the order.
local function engage(item, t)
  if posAt[item] ~= nil then
    for j = 1, #posOrder do
      if posOrder[j] == item then
        table.remove(posOrder, j)
        break
      end
    end
  end
  local at = #posOrder + 1
  for j = 1, #posOrder do
    if newer(t, item, posAt[posOrder[j]], posOrder[j]) then
      at = j
      break
    end
  end
  table.insert(posOrder, at, item)
  posAt[item] = t
  posMoved[item] = true
end
-- The newest engaged items within the horizon of t, itemId left out (as ZRANGE … BYSCORE REV).
local function partnersOf(t, itemId)
  local partners = {}
  for _, other in ipairs(posOrder) do
    local at = posAt[other]
    if at < t - horizon or #partners >= maxPartners then break end
    if other ~= itemId and at <= t + horizon then partners[#partners + 1] = other end
  end
  return partners
end
local newSeen, recentAt, hiddenAt = {}, {}, {}
local posTouched = false
local function later(map, item, t)
  if map[item] == nil or t > map[item] then map[item] = t end
end

i = 21
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  local eventId = ARGV[i + 1]
  local t = tonumber(ARGV[i + 2])
  local ahead = tonumber(ARGV[i + 3]) + maxAhead
  local itemId, cat, action = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local w = tonumber(ARGV[i + 8])
  local tags = ARGV[i + 9]
  local capField = ARGV[i + 10]
  local k = tonumber(ARGV[i + 11])
  if offset <= applied then
    replayed = replayed + 1
    if pendMap == nil then
      pendMap = {}
      for _, note in ipairs(decodeNotes(keptNotes())) do pendMap[note[1]] = { note[3], note[2] } end
    end
    local p = pendMap[ARGV[i]]
    if p ~= nil then
      rehanded[#rehanded + 1] = { ARGV[i], itemId, cat, action, t, w, p[1], eventId, tags, p[2], math.min(t, ahead) }
    end
  else
    last = offset
    if t < wm - lateness then
      late = late + 1
    elseif known[eventId] then
      dup = dup + 1
    else
      known[eventId] = true
      newSeen[#newSeen + 1] = t
      newSeen[#newSeen + 1] = eventId
      local field = cat .. '|' .. ARGV[i + 7]
      for j = 1, k do
        local f = ARGV[i + 11 + j] .. '|' .. field
        incs[f] = (incs[f] or 0) + 1
      end
      if w ~= 0 then affAdds[#affAdds + 1] = { cat, w, t } end
      local cf = capField .. '|' .. itemId
      incs[cf] = (incs[cf] or 0) + 1
      local capped = 0
      if winValues[cf] + incs[cf] > capMax then capped = 1 end
      local partners = {}
      if w >= minPartnerWeight then
        if capped == 0 then partners = partnersOf(t, itemId) end
        posTouched = true
        if posAt[itemId] == nil or t > posAt[itemId] then engage(itemId, t) end
      end
      later(recentAt, itemId, t)
      if action == 'HIDE' then later(hiddenAt, itemId, t) end
      out[#out + 1] = { ARGV[i], itemId, cat, action, t, w, partners, eventId, tags, capped, math.min(t, ahead) }
      notes[#notes + 1] = { ARGV[i], capped, partners }
      if math.min(t, ahead) > wm then wm = math.min(t, ahead) end
      counted = counted + 1
    end
  end
  i = i + 12 + k
end

-- The writes, once each: new eventIds, counts, items.
local function addLatest(key, map)
  local args = {}
  for item, t in pairs(map) do
    args[#args + 1] = t
    args[#args + 1] = item
  end
  return inChunks('ZADD', key, 'GT', args)
end
inChunks('ZADD', seen, 'NX', newSeen)
local winWrite = {}
for f, c in pairs(incs) do
  winWrite[#winWrite + 1] = f
  winWrite[#winWrite + 1] = winValues[f] + c
end
inChunks('HSET', win, nil, winWrite)
recentSize = recentSize + addLatest(recent, recentAt)
if next(posMoved) ~= nil then
  local moved = {}
  for item in pairs(posMoved) do moved[item] = posAt[item] end
  posSize = posSize + addLatest(pos, moved)
end
local hid = next(hiddenAt) ~= nil
if hid then addLatest(hidden, hiddenAt) end
local pending = ''
if #rehanded > 0 then pending = cjson.encode(rehanded) end
local contributions = ''
if #out > 0 then contributions = cjson.encode(out) end
-- Affinity: Σ w·2^((t − base)/h) per category in the state hash, rebased to the newest event when
-- the exponent would grow out of range (every 64 half-lives). Affinity an earlier version kept in a
-- hash of its own (`aff`, flag `a`) moves into the state first, once.
local affWrite = {}
if #affAdds > 0 then
  if not st[11] and string.find(flags, 'a', 1, true) then
    local old, moved = redis.call('HGETALL', aff), {}
    for j = 1, #old, 2 do
      local f = 'a:' .. old[j]
      moved[#moved + 1] = f
      moved[#moved + 1] = old[j + 1]
      if old[j] == '_b' then st[11] = old[j + 1] elseif affAt[old[j]] then st[affAt[old[j]]] = old[j + 1] end
    end
    if #moved > 0 then redis.call('HSET', state, unpack(moved)) end
    redis.call('DEL', aff)
    flags = (string.gsub(flags, 'a', ''))
  end
  local maxT = affAdds[1][3]
  for _, a in ipairs(affAdds) do if a[3] > maxT then maxT = a[3] end end
  local base = tonumber(st[11] or '')
  local sums = {}
  for _, a in ipairs(affAdds) do sums[a[1]] = tonumber(st[affAt[a[1]]] or '0') end
  if base == nil then base = maxT end
  if (maxT - base) / affHalf > 64 then
    local all = redis.call('HGETALL', state)
    for j = 1, #all, 2 do
      local f = all[j]
      if string.sub(f, 1, 2) == 'a:' and f ~= 'a:_b' then
        sums[string.sub(f, 3)] = tonumber(all[j + 1]) * 2 ^ ((base - maxT) / affHalf)
      end
    end
    base = maxT
  end
  for _, a in ipairs(affAdds) do sums[a[1]] = sums[a[1]] + a[2] * 2 ^ ((a[3] - base) / affHalf) end
  affWrite = { 'a:_b', base }
  for cat, v in pairs(sums) do
    affWrite[#affWrite + 1] = 'a:' .. cat
    affWrite[#affWrite + 1] = v
  end
end
if last > applied then
  local fields = { 'off:' .. part, last, 'wm', wm }
  for _, v in ipairs(affWrite) do fields[#fields + 1] = v end
  if counted > 0 then
    -- The windows' TTL runs a few minutes past what the newest bucket needs, so that it is set
    -- again at most once in those minutes, not on every call.
    if winExpiry < now + winTtl * 1000 then
      redis.call('EXPIRE', win, winTtl + WIN_TTL_SLACK_SEC)
      fields[#fields + 1] = 'we'
      fields[#fields + 1] = now + (winTtl + WIN_TTL_SLACK_SEC) * 1000
    end
    if now - winPruned >= 60000 then
      local spec = windowSpec(winSpec)
      local wmBucket = {}
      for name, w in pairs(spec) do wmBucket[name] = math.floor(wm / w[1]) * w[1] end
      dropWindowFields(win, function(name, idx)
        if name == 'c' then return (idx + 1) * capBucket + lateness <= wm end
        local w = spec[name]
        return w == nil or idx * w[1] + w[2] <= wmBucket[name]
      end)
      fields[#fields + 1] = 'wp'
      fields[#fields + 1] = now
    end
  end
  -- Every kept note is of an offset at or below the applied one: all are settled when it is.
  local pend = {}
  if settled < applied then
    for _, note in ipairs(decodeNotes(keptNotes())) do
      if tonumber(note[1]) > settled then pend[#pend + 1] = note end
    end
  end
  for _, note in ipairs(notes) do pend[#pend + 1] = note end
  if #pend > 0 then
    redis.call('SET', pendKey, encodeNotes(pend), 'EX', stateTtl)
  elseif applied >= 0 then
    redis.call('DEL', pendKey)
  end
  if legacy then redis.call('HDEL', state, 'pend:' .. part) end
  -- Bounded sets are trimmed once they hold more than their bound, the dedupe set whenever the
  -- watermark has moved on by half the allowed lateness: cheap, and still bounded.
  if recentSize > recentMax then
    redis.call('ZREMRANGEBYRANK', recent, 0, -(recentMax + 1))
    recentSize = recentMax
  end
  if posSize > posMax then
    redis.call('ZREMRANGEBYRANK', pos, 0, -(posMax + 1))
    posSize = posMax
  end
  if legacySizes and st[3] then redis.call('HDEL', state, 'ra', 'pa') end
  if wm - trimmedAt > lateness / 2 then
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
  alive(pos, 'p', posTouched)
  for _, v in ipairs({ 'x', refreshed, 'ts', trimmedAt, 'rn', recentSize, 'pn', posSize, 'fk', flags }) do
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
