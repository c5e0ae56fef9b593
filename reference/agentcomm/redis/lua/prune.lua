-- prune: delete what retention no longer keeps (SPEC EXP-003, EXP-004), at most `budget`
-- objects per call, so that no call holds the server for long: the hub calls it again
-- while it reports more.  Dead letters, pending and processing messages and active
-- agents are never touched.
-- arg(1) finished-before cutoff, arg(2) events-published-before cutoff, arg(3) budget.
-- Returns {messages, replies, events, agents, 1 when there may be more else 0}.
local operator_only = maintainer_refusal('prune')
if operator_only then return redis.error_reply(operator_only) end
local cutoff, event_cutoff, budget = tonumber(arg(1)), tonumber(arg(2)), tonumber(arg(3))
local messages, replies, events, agents, spent = 0, 0, 0, 0, 0

local function prune_message(target, id)
  local m = load(id)
  redis.call('ZREM', K.finished(target), id)
  if m and (m.status == 'completed' or m.status == 'expired') then
    if m.response_id then
      replies = replies + redis.call('DEL', K.reply(m.response_id))
      redis.call('DEL', K.response(m.from_agent, id))
    end
    if m.status == 'expired' then
      depth(target, 'expired', -1)
    else
      tally('pruned_completed')  -- lifetime 'completed' still counts it (stats.lua)
    end
    redis.call('DEL', K.message(id))
    messages = messages + 1
  end
end

for _, target in ipairs(redis.call('SMEMBERS', K.targets())) do
  if spent >= budget then return done({messages, replies, events, agents, 1}) end
  local old = redis.call('ZRANGEBYSCORE', K.finished(target), '-inf', '(' .. arg(1),
    'LIMIT', 0, budget - spent)
  for _, id in ipairs(old) do prune_message(target, id) end
  spent = spent + #old
end

-- Events older than the cutoff are at the head of their stream (ids grow with time);
-- events with a ttl of their own are found through event_expiry.
local function drop_event(kind, entry_id)
  events = events + redis.call('XDEL', K.stream(kind), entry_id)
  spent = spent + 1
end
for _, kind in ipairs(redis.call('SMEMBERS', K.event_types())) do
  while spent < budget do
    local head = redis.call('XRANGE', K.stream(kind), '-', '+', 'COUNT', budget - spent)
    local old = 0
    for _, entry in ipairs(head) do
      local published
      for j = 1, #entry[2], 2 do
        if entry[2][j] == 'published_at' then published = tonumber(entry[2][j + 1]) end
      end
      if not published or published >= event_cutoff then break end
      drop_event(kind, entry[1])
      old = old + 1
    end
    if old < #head or #head == 0 then break end
  end
  if spent >= budget then return done({messages, replies, events, agents, 1}) end
end
local lapsed = redis.call('ZRANGEBYSCORE', K.event_expiry(), '-inf', NOW, 'LIMIT', 0,
  budget - spent)
for _, ref in ipairs(lapsed) do
  local kind, entry_id = string.match(ref, '^(.*) (%d+%-0)$')
  redis.call('ZREM', K.event_expiry(), ref)
  if kind then drop_event(kind, entry_id) end
end
if spent >= budget then return done({messages, replies, events, agents, 1}) end

for _, agent in ipairs(redis.call('SMEMBERS', K.agents())) do
  local status, beat_at = unpack(redis.call('HMGET', K.registry(agent), 'status', 'last_heartbeat'))
  if status == 'inactive' and beat_at and tonumber(beat_at) < cutoff then
    redis.call('DEL', K.registry(agent))
    redis.call('SREM', K.agents(), agent)
    agents = agents + 1
  end
end
return done({messages, replies, events, agents, 0})
