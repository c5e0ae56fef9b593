-- prune: delete what retention no longer keeps (SPEC EXP-003, EXP-004).  Dead letters,
-- pending and processing messages and active agents are never touched.
-- arg(1) finished-before cutoff, arg(2) events-published-before cutoff.
-- Returns {messages, replies, events, agents}.
local cutoff, event_cutoff = tonumber(arg(1)), tonumber(arg(2))
local messages, replies, events, agents = 0, 0, 0, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', K.finished, '-inf', '(' .. arg(1))) do
  local m = load(id)
  redis.call('ZREM', K.finished, id)
  if m and (m.status == 'completed' or m.status == 'expired') then
    if m.response_id then
      replies = replies + redis.call('DEL', K.reply(m.response_id))
      redis.call('DEL', K.response(m.from_agent, id))
    end
    count(m, m.status, -1)
    redis.call('DEL', K.message(id))
    messages = messages + 1
  end
end
for _, kind in ipairs(redis.call('SMEMBERS', K.event_types)) do
  for _, entry in ipairs(redis.call('XRANGE', K.stream(kind), '-', '+')) do
    local e = {}
    for j = 1, #entry[2], 2 do e[entry[2][j]] = entry[2][j + 1] end
    local expired = e.expires_at and tonumber(e.expires_at) <= NOW
    if tonumber(e.published_at) < event_cutoff or expired then
      events = events + redis.call('XDEL', K.stream(kind), entry[1])
    end
  end
end
for _, agent in ipairs(redis.call('SMEMBERS', K.agents)) do
  local status, beat_at = unpack(redis.call('HMGET', K.registry(agent), 'status', 'last_heartbeat'))
  if status == 'inactive' and beat_at and tonumber(beat_at) < cutoff then
    redis.call('DEL', K.registry(agent))
    redis.call('SREM', K.agents, agent)
    agents = agents + 1
  end
end
return done({messages, replies, events, agents})
