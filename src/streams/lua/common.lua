-- Helpers shared by the stream worker's scripts (apply-user.lua, apply-item.lua and
-- apply-trending.lua pull this file in with `-- @include common.lua`; it is not a script of its
-- own). They keep Redis calls per event
-- few: increments are summed in Lua tables and sent once per (key, field), TTLs are set when a key
-- or field is created and refreshed at most once per `refreshMs`, and bounded sets are trimmed every
-- few additions.

-- Adds the decayed sums Σ w·2^((t − base)/h) of `adds` ({field, w, t}) to hash `key`, whose base is
-- `base` (nil: none yet, the hash is new). Returns the base, which is written back by the caller.
local function decaySum(key, adds, h, base, only)
  if #adds == 0 then return base end
  local maxT = adds[1][3]
  for _, a in ipairs(adds) do if a[3] > maxT then maxT = a[3] end end
  if base == nil then base = maxT end
  if (maxT - base) / h > 64 then
    -- Rescale every sum to a newer base before 2^e grows out of range (rare: every 64 half-lives).
    -- `only` names the one decayed field of a hash that also holds other fields.
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

-- Adds the summed counts `incs[idx][field]` to bucket hashes KEYS[offset + idx]; a bucket gets its TTL
-- (ARGV[ttlAt + idx]) when a field of it is created, so every bucket key has one from its first write.
local function addCounts(incs, offset, ttlAt)
  for idx, fields in pairs(incs) do
    local key = KEYS[offset + idx]
    for field, c in pairs(fields) do
      if redis.call('HINCRBY', key, field, c) == c then redis.call('EXPIRE', key, tonumber(ARGV[ttlAt + idx])) end
    end
  end
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
  for j = 1, #gone, 1000 do redis.call('HDEL', key, unpack(gone, j, math.min(j + 999, #gone))) end
end

local function count(incs, idx, field, c)
  local fields = incs[idx]
  if fields == nil then fields = {}; incs[idx] = fields end
  fields[field] = (fields[field] or 0) + c
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

