-- deregister: a clean exit, inactive at once (SPEC REG-004).  arg(1) agent.
local agent = arg(1)
if redis.call('EXISTS', K.registry(agent)) == 1 then
  redis.call('HSET', K.registry(agent), 'status', 'inactive', 'current_load', 0)
  audit('a:' .. agent)
end
redis.call('DEL', K.heartbeat(agent))
return 1
