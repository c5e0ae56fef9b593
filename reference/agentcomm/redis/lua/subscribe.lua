-- subscribe: a cursor at the end of the log, so only later events arrive (SPEC EVT-002).
-- arg(1) agent, arg(2) event type.  Idempotent: an existing cursor is kept.
local last = redis.call('GET', K.seq_event()) or '0'
if redis.call('HSETNX', K.subscriptions(arg(1)), arg(2), last) == 1 then
  audit('s:' .. arg(1) .. ':' .. arg(2))
end
return 1
