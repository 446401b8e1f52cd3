/**
 * The atomic step of the stream worker: applies one user's events from one batch to their window
 * buckets. Every key is the user's (one hash tag, one Redis Cluster slot). Per user and partition
 * it keeps the last applied Kafka offset, so a redelivered record is skipped; it remembers recent
 * eventIds, so a client retry is counted once; and it keeps the user's latest event time, so an
 * event older than that minus the allowed lateness is counted as late and not applied.
 *
 * KEYS: state, seen, bucket_1 … bucket_B
 * ARGV: partition, allowedLatenessMs, stateTtlSec, B, ttlSec_1 … ttlSec_B,
 *       then per event: offset, eventId, occurredAt, field, k, bucketIndex_1 … bucketIndex_k
 * Returns: { counted, late, duplicate, replayed, watermark }
 */
export const APPLY_USER_EVENTS_LUA = `
local state, seen = KEYS[1], KEYS[2]
local part = ARGV[1]
local lateness = tonumber(ARGV[2])
local stateTtl = tonumber(ARGV[3])
local nb = tonumber(ARGV[4])
local applied = tonumber(redis.call('HGET', state, 'off:' .. part) or '-1')
local wm = tonumber(redis.call('HGET', state, 'wm') or '0')
local counted, late, dup, replayed = 0, 0, 0, 0
local last = applied
local touched = {}
local i = 5 + nb
while i <= #ARGV do
  local offset = tonumber(ARGV[i])
  local eventId = ARGV[i + 1]
  local t = tonumber(ARGV[i + 2])
  local field = ARGV[i + 3]
  local k = tonumber(ARGV[i + 4])
  if offset <= applied then
    replayed = replayed + 1
  else
    last = offset
    if t < wm - lateness then
      late = late + 1
    elseif redis.call('ZADD', seen, 'NX', t, eventId) == 0 then
      dup = dup + 1
    else
      for j = 1, k do
        local idx = tonumber(ARGV[i + 4 + j])
        redis.call('HINCRBY', KEYS[2 + idx], field, 1)
        touched[idx] = true
      end
      if t > wm then wm = t end
      counted = counted + 1
    end
  end
  i = i + 5 + k
end
if last > applied then
  redis.call('HSET', state, 'off:' .. part, last, 'wm', wm)
  redis.call('EXPIRE', state, stateTtl)
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (wm - lateness))
  redis.call('EXPIRE', seen, stateTtl)
end
for idx, _ in pairs(touched) do
  redis.call('EXPIRE', KEYS[2 + idx], tonumber(ARGV[4 + idx]))
end
return { counted, late, dup, replayed, wm }
`;

export interface ApplyResult {
  counted: number;
  late: number;
  duplicate: number;
  replayed: number;
  watermark: number;
}
