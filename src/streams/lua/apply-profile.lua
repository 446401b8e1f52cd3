-- A declared-interests record: replaces the profile unless Redis holds a newer one.
--
-- KEYS: profile
-- ARGV: interests (comma-separated), updatedAt
-- Returns: 1 when written, 0 when Redis held a newer record

local current = tonumber(redis.call('HGET', KEYS[1], 'updatedAt') or '-1')
if tonumber(ARGV[2]) >= current then
  redis.call('HSET', KEYS[1], 'interests', ARGV[1], 'updatedAt', ARGV[2])
  return 1
end
return 0
