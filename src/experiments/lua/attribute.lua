-- The atomic step of experiment attribution. One call applies one Kafka batch of one
-- topic-partition (impressions or behaviour) past the offset Redis last recorded for it and
-- records the new one in the same step, so redelivery never counts twice.
--
-- The join is symmetric because the two topics are consumed independently: an impression
-- remembers which experiment, arm and model version showed each item to the user (`shown`), and a
-- CLICK, LIKE or HIDE that finds no impression yet waits in `pending` until one claims it. Each
-- shown entry carries flags, so a repeated click (or a client retry) counts once per impression.
-- A user's shown items are bounded: past `shownMax` entries, the oldest (by serving time) are
-- dropped until three quarters of it remain, so the trim runs once every shownMax/4 new items.
--
-- KEYS: offsets, counts, then per user: shown, pending (a record names its pair by the KEYS index
--       of its shown key)
-- ARGV: progressField, lastOffset (of the batch), windowMs, ttlMs, skewMs, shownMax, kind (`i` or `b`), then
--   kind `i`, per impression: offset, shown key index, servedAt, group (`experiment|arm|version`),
--     n, itemId_1 … itemId_n
--   kind `b`, per event: offset, shown key index, occurredAt, itemId, flag (`c`, `l` or `h`), eventId
-- Returns: the counts it added, as `group|kind`, n pairs.

local field, last = ARGV[1], tonumber(ARGV[2])
local window, ttl, skew = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local shownMax = tonumber(ARGV[6])
local kind = ARGV[7]
local applied = tonumber(redis.call('HGET', KEYS[1], field) or '-1')
local out = {}
local names = { c = 'clicks', l = 'likes', h = 'hides' }
local function count(group, what, n)
  local f = group .. '|' .. what
  redis.call('HINCRBY', KEYS[2], f, n)
  out[#out + 1] = f
  out[#out + 1] = n
end
local function mark(shown, item, entry, flag)
  local group, servedAt, flags = string.match(entry, '^(.*)|(%d+)|(%a*)$')
  if group == nil or string.find(flags, flag, 1, true) then return end
  redis.call('HSET', shown, item, group .. '|' .. servedAt .. '|' .. flags .. flag)
  count(group, names[flag], 1)
end
-- Keeps the newest entries of a shown hash once it holds more than shownMax.
local function bound(shown)
  if redis.call('HLEN', shown) <= shownMax then return end
  local all = redis.call('HGETALL', shown)
  local entries = {}
  for j = 1, #all, 2 do
    entries[#entries + 1] = { all[j], tonumber(string.match(all[j + 1], '|(%d+)|%a*$')) or 0 }
  end
  table.sort(entries, function(a, b) return a[2] < b[2] end)
  local keep = math.floor(shownMax * 3 / 4)
  for j = 1, #entries - keep do redis.call('HDEL', shown, entries[j][1]) end
end
local i = 8
if kind == 'i' then
  while i <= #ARGV do
    local offset, u, servedAt, group, n = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], tonumber(ARGV[i + 4])
    if offset > applied then
      local shown, pending = KEYS[u], KEYS[u + 1]
      count(group, 'feeds', 1)
      count(group, 'impressions', n)
      local items = {}
      for j = 1, n do
        local item = ARGV[i + 4 + j]
        items[item] = true
        redis.call('HSET', shown, item, group .. '|' .. servedAt .. '|')
      end
      redis.call('PEXPIRE', shown, ttl)
      bound(shown)
      local t = tonumber(servedAt)
      for _, m in ipairs(redis.call('ZRANGEBYSCORE', pending, t - skew, t + window)) do
        local flag, item = string.match(m, '^(%a)|([^|]*)|')
        if item ~= nil and items[item] then
          mark(shown, item, redis.call('HGET', shown, item), flag)
          redis.call('ZREM', pending, m)
        end
      end
    end
    i = i + 5 + n
  end
else
  while i <= #ARGV do
    local offset, u, at, item, flag, eventId = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
    if offset > applied then
      local shown, pending = KEYS[u], KEYS[u + 1]
      local t = tonumber(at)
      local entry = redis.call('HGET', shown, item)
      local claimed = false
      if entry then
        local servedAt = tonumber(string.match(entry, '|(%d+)|%a*$'))
        if servedAt ~= nil and t >= servedAt - skew and t <= servedAt + window then
          mark(shown, item, entry, flag)
          claimed = true
        end
      end
      if not claimed then
        redis.call('ZADD', pending, at, flag .. '|' .. item .. '|' .. eventId)
        redis.call('ZREMRANGEBYSCORE', pending, '-inf', '(' .. string.format('%d', t - window))
        redis.call('PEXPIRE', pending, ttl)
      end
    end
    i = i + 6
  end
end
if last > applied then redis.call('HSET', KEYS[1], field, ARGV[2]) end
return out
