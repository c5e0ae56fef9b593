-- dead_letters: the first `limit` dead letters, in the list's order (SPEC DLQ-001),
-- adopting on the way what the design's scripts LPUSHed onto dead_letter_queue (SPEC
-- COMPAT-011): each such item becomes a dead message, whose id takes its place.
-- arg(1) limit.  Returns the ids.
local operator_only = maintainer_refusal('read dead letters')
if operator_only then return redis.error_reply(operator_only) end
local ids = redis.call('LRANGE', K.dead(), 0, tonumber(arg(1)) - 1)
for i, item in ipairs(ids) do
  if not tonumber(item) or redis.call('EXISTS', K.message(item)) == 0 then
    ids[i] = adopt_dead(item, 'an item of ' .. K.dead())
    redis.call('LSET', K.dead(), i - 1, ids[i])
  end
end
return done(ids)
