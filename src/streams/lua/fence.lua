-- The stream epoch fence, first in every script that writes offset-guarded state (apply-user,
-- apply-item, apply-trending and match-user pull this file in; it is not a script of its own).
-- KEYS[1] is the worker group's epoch key and ARGV[1] the epoch the worker's progress belongs to.
-- When Redis no longer holds that epoch (its data was lost: a flush, a restart without persistence),
-- the call is refused before any write: a batch in flight when the data went cannot recreate the
-- offset guards that the rebuild from the log relies on being absent.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('EPOCH redis no longer holds the stream epoch ' .. ARGV[1] .. '; rebuild from the log')
end
