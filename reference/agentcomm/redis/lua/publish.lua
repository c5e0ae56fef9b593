-- publish: append an event to its type's stream, then PUBLISH it live on the design's
-- channel (SPEC EVT-001, EVT-006).  The stream entry id is '<event id>-0', one sequence
-- for all types, so events of all types share one order (ORD-003).
-- arg(1) publisher, arg(2) type, arg(3) payload, arg(4) expires_at ('' none),
-- arg(5) the event's JSON form after its id (`"event_type":...}`).  Returns the id.
local id = string.format('%d', redis.call('INCR', K.seq_event()))
local fields = {'publisher', arg(1), 'payload', arg(3), 'published_at', NOW_TEXT}
if arg(4) ~= '' then
  fields[#fields + 1] = 'expires_at'
  fields[#fields + 1] = arg(4)
  redis.call('ZADD', K.event_expiry(), arg(4), arg(2) .. ' ' .. id .. '-0')  -- for prune
end
redis.call('XADD', K.stream(arg(2)), id .. '-0', unpack(fields))
redis.call('SADD', K.event_types(), arg(2))
redis.call('PUBLISH', K.stream(arg(2)), '{"id":"' .. id .. '",' .. arg(5))
audit('e:' .. arg(2) .. ':' .. id)
return id
