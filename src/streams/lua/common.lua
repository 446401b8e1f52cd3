-- Helpers shared by the stream worker's scripts (apply-user.lua and apply-item.lua pull this file in
-- with `-- @include common.lua`; it is not a script of its own). They keep Redis calls per event
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

