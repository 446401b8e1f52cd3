-- Stores a new model version, or returns the stored metadata of an existing one (the caller
-- compares digests): versions never change once published.
--
-- KEYS: bytes, meta, versions
-- ARGV: version, bytes, metadataJson, publishedAt, sha256 (carried for the record; not read here)
-- Returns: { 1, '' } when stored, { 0, stored metadata JSON or '' } when the version existed

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[2], ARGV[1]) or ''}
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return {1, ''}
