-- Compare-and-set of the experiment on its revision, so two operators (or the CLI and the online
-- trainer) changing the experiment at once cannot lose one change silently. A write is kept in
-- the history (last 100) and announced on the channel.
--
-- KEYS: experiment, history
-- ARGV: expectedRevision (0: none may exist yet), experimentJson, channel, noticeJson
-- Returns: -1 when written, else the revision Redis holds

local current = redis.call('GET', KEYS[1])
local revision = 0
if current then revision = tonumber(cjson.decode(current).revision) or 0 end
if revision ~= tonumber(ARGV[1]) then return revision end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, 99)
redis.call('PUBLISH', ARGV[3], ARGV[4])
return -1
