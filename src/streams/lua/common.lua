-- Helpers shared by the stream worker's scripts (apply-user.lua, apply-item.lua and
-- apply-trending.lua pull this file in with `-- @include common.lua`; it is not a script of its
-- own). They keep Redis calls per event few: what a call adds is summed in Lua tables and written
-- once per key, TTLs are set when a key or field is created and refreshed at most once per
-- `refreshMs`, and bounded sets are trimmed only once they hold more than their bound.

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

