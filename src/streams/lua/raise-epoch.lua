-- One slot's copy of the stream epoch on a Redis Cluster (see src/streams/epoch.ts): set to ARGV[1]
-- unless the copy held is as new or newer. Epochs are `<generation>:<id>`, ordered by generation,
-- then by id, so that workers raising the epoch at the same moment all end on the same one.
--
-- KEYS: epoch (one slot's copy)
-- ARGV: epoch
-- Returns: the copy held after the call

local held = redis.call('GET', KEYS[1])
local function parse(e)
  local gen, id = string.match(e, '^(%d+):(.*)$')
  return tonumber(gen or '-1'), id or e
end
if held then
  local hg, hid = parse(held)
  local ng, nid = parse(ARGV[1])
  if hg > ng or (hg == ng and hid >= nid) then return held end
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
