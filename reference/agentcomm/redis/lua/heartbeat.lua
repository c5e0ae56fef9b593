-- heartbeat: prove an agent alive now (SPEC REG-002).  arg(1) agent, arg(2) load ('' keep).
-- Returns the entry, flat.
local agent = arg(1)
if redis.call('EXISTS', K.registry(agent)) == 0 then
  return redis.error_reply("not_found agent '" .. agent ..
    "' is not registered: register before heartbeating")
end
redis.call('HSET', K.registry(agent), 'status', 'active', 'last_heartbeat', NOW_TEXT)
if arg(2) ~= '' then redis.call('HSET', K.registry(agent), 'current_load', arg(2)) end
beat(agent)
return redis.call('HGETALL', K.registry(agent))
