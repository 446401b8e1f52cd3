-- bench/compact-state-cost.ts: the Redis side of a user step whose state the worker computes.
-- The stream epoch fence, then per user a compare-and-set of the user's compact state: written
-- only when its version is still the one the worker read.
-- KEYS: epoch, then one state hash per user (fields `v`: version, `b`: the state)
-- ARGV: epoch, then per user: the version read, the new version, the new state
-- Returns: per user 1 (written) or 0 (the version had moved on: read again)
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('EPOCH redis no longer holds the stream epoch ' .. ARGV[1])
end
local out = {}
for u = 2, #KEYS do
  local a = 3 * (u - 2) + 2
  if (redis.call('HGET', KEYS[u], 'v') or '') == ARGV[a] then
    redis.call('HSET', KEYS[u], 'v', ARGV[a + 1], 'b', ARGV[a + 2])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
