-- unsubscribe: drop an agent's cursor for one event type (SPEC EVT-002).
-- arg(1) agent, arg(2) event type.
if redis.call('HDEL', K.subscriptions(arg(1)), arg(2)) == 1 then
  audit('s:' .. arg(1) .. ':' .. arg(2))
end
return 1
