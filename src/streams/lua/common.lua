-- Helpers shared by the stream worker's scripts (apply-user.lua, apply-item.lua and
-- apply-trending.lua pull this file in with `-- @include common.lua`; it is not a script of its
-- own). They keep Redis calls per event few: what a call adds is summed in Lua tables and written
-- once per key, TTLs are set when a key or field is created and refreshed at most once per
-- `refreshMs`, and bounded sets are trimmed only once they hold more than their bound.

-- Adds the decayed sums Σ w·2^((t − base)/h) of `adds` ({field, w, t}, at least one) to hash `key`,
-- whose field `_b` holds the base (none yet: the newest t): one HMGET and one HSET.
local function decaySum(key, adds, h)
  local maxT = adds[1][3]
  local names, at = { '_b' }, {}
  for _, a in ipairs(adds) do
    if a[3] > maxT then maxT = a[3] end
    if at[a[1]] == nil then
      names[#names + 1] = a[1]
      at[a[1]] = #names
    end
  end
  local values = redis.call('HMGET', key, unpack(names))
  local base = tonumber(values[1] or '')
  local sums = {}
  for field, j in pairs(at) do sums[field] = tonumber(values[j] or '0') end
  if base == nil then base = maxT end
  if (maxT - base) / h > 64 then
    -- Rescale every sum to a newer base before 2^e grows out of range (rare: every 64 half-lives).
    local all = redis.call('HGETALL', key)
    for j = 1, #all, 2 do
      if all[j] ~= '_b' then sums[all[j]] = tonumber(all[j + 1]) * 2 ^ ((base - maxT) / h) end
    end
    base = maxT
  end
  for _, a in ipairs(adds) do sums[a[1]] = sums[a[1]] + a[2] * 2 ^ ((a[3] - base) / h) end
  local write = { '_b', base }
  for field, v in pairs(sums) do
    write[#write + 1] = field
    write[#write + 1] = v
  end
  redis.call('HSET', key, unpack(write))
end

-- Sends `command key [option] args…` in calls of at most 1000 arguments each (unpack has a limit);
-- returns the sum of their integer replies (members or fields added, removed).
local function inChunks(command, key, option, args)
  local total = 0
  for j = 1, #args, 1000 do
    local upto = math.min(j + 999, #args)
    local reply
    if option then
      reply = redis.call(command, key, option, unpack(args, j, upto))
    else
      reply = redis.call(command, key, unpack(args, j, upto))
    end
    total = total + (tonumber(reply) or 0)
  end
  return total
end

-- Adds adds[j] to the score of members[j] in sorted set `key`: one ZMSCORE and one ZADD per 500
-- members instead of a ZINCRBY each. Returns how many members were new.
local function addScores(key, members, adds)
  local new = 0
  for j = 1, #members, 500 do
    local upto = math.min(j + 499, #members)
    local scores = redis.call('ZMSCORE', key, unpack(members, j, upto))
    local args = {}
    for q = j, upto do
      local s = scores[q - j + 1]
      if not s then new = new + 1 end
      args[#args + 1] = tonumber(s or '0') + adds[q]
      args[#args + 1] = members[q]
    end
    redis.call('ZADD', key, unpack(args))
  end
  return new
end

-- `name:bucketMs:lengthMs,…` as { name = { bucketMs, lengthMs } }.
local function windowSpec(text)
  local spec = {}
  for name, bucketMs, lengthMs in string.gmatch(text, '([^:,]+):(%d+):(%d+)') do
    spec[name] = { tonumber(bucketMs), tonumber(lengthMs) }
  end
  return spec
end

-- Drops the window fields of hash `key` (`<name>:<bucket index base 36>|…`) for which
-- dead(name, index) is true; other fields are left alone.
local function dropWindowFields(key, dead)
  local gone = {}
  for _, f in ipairs(redis.call('HKEYS', key)) do
    local name, idx = string.match(f, '^([^:]+):(%w+)|')
    if name ~= nil and dead(name, tonumber(idx, 36)) then gone[#gone + 1] = f end
  end
  inChunks('HDEL', key, nil, gone)
end

-- The TTL of a long-lived key: set when the key first appears (its flag is missing from `flags`), and
-- refreshed with all the others when `refresh` is true. Returns the flags with this key's added.
local function keepAlive(key, flag, ttl, flags, refresh)
  if refresh or not string.find(flags, flag, 1, true) then
    redis.call('EXPIRE', key, ttl)
    if not string.find(flags, flag, 1, true) then flags = flags .. flag end
  end
  return flags
end

