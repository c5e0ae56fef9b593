-- register: enter or re-enter an agent as active, with a heartbeat now (SPEC REG-001).
-- arg(1) agent, arg(2) capabilities (JSON list), arg(3) process id ('' none),
-- arg(4) max_concurrent, arg(5) heartbeat TTL seconds.  Returns the entry, flat.
local agent = arg(1)
redis.call('DEL', K.registry(agent))
redis.call('HSET', K.registry(agent), 'status', 'active', 'last_heartbeat', NOW_TEXT,
  'capabilities', arg(2), 'current_load', 0, 'max_concurrent', arg(4),
  'heartbeat_ttl', arg(5))
if arg(3) ~= '' then redis.call('HSET', K.registry(agent), 'process_id', arg(3)) end
redis.call('SADD', K.agents(), agent)
beat(agent)
return redis.call('HGETALL', K.registry(agent))
