-- migrate: bring a hub of layout 1 to layout 2, a step of at most `budget` finished
-- messages per call; the hub calls it until it returns 0.  Safe to repeat, and to run
-- from several handles at once.  Agents of an older agentcomm must be stopped first:
-- they refuse layout 2 once it is set, but would not see the change while running.
-- Layout 2 keeps finished messages per target (finished:<target>), derives most depths
-- (only dead and expired stay counted), keeps lease tokens only as digests, and makes
-- dead letters of the items layout 1 kept aside (unadopted).
-- arg(1) budget.  Returns 1 while there is more to do, else 0.
local operator_only = maintainer_refusal('migrate the layout of the hub')
if operator_only then return redis.error_reply(operator_only) end
local budget = tonumber(arg(1))
local old_finished = K.finished_v1()
local batch = redis.call('ZRANGE', old_finished, 0, budget - 1, 'WITHSCORES')
for i = 1, #batch, 2 do
  local id, at = batch[i], batch[i + 1]
  local target = redis.call('HGET', K.message(id), 'to_agent')
  if target then redis.call('ZADD', K.finished(target), at, id) end
  redis.call('ZREM', old_finished, id)
end
if #batch / 2 >= budget then return 1 end

-- Layout 1 kept the design's items found in pending lists aside, in a list of their own;
-- they become dead letters (whose target is not known), shown by stats and dead-letters.
local aside = redis.call('LPOP', K.unadopted_v1(), budget) or {}
for _, item in ipairs(aside) do
  redis.call('RPUSH', K.dead(), adopt_dead(item, 'an item of a pending list, kept aside by ' ..
    'agentcomm before it adopted the design\'s items'))
end
if #aside >= budget then return 1 end

-- Tokens of live leases, and of dead letters buried by their holder, become digests.
local function hash_token(id)
  local token = redis.call('HGET', K.message(id), 'lease_token')
  if token and #token ~= 40 then redis.call('HSET', K.message(id), 'lease_token', digest(token)) end
end
for _, target in ipairs(redis.call('SMEMBERS', K.targets())) do
  for _, id in ipairs(redis.call('ZRANGE', K.processing(target), 0, -1)) do hash_token(id) end
end
for _, id in ipairs(redis.call('LRANGE', K.dead(), 0, -1)) do hash_token(id) end

local kept = redis.call('HGETALL', K.depths())
for i = 1, #kept, 2 do
  local field = kept[i]
  if not (string.match(field, ':dead$') or string.match(field, ':expired$')) then
    redis.call('HDEL', K.depths(), field)
  end
end
-- Derived now: 'sent' and 'published' from the id sequences, 'completed' from the
-- finished sets, plus what prune removes from now on (and removed before: the old count
-- less the completions still kept).
local completed = tonumber(redis.call('HGET', K.counters(), 'completed') or '0')
local kept = 0
for _, target in ipairs(redis.call('SMEMBERS', K.targets())) do
  for _, id in ipairs(redis.call('ZRANGE', K.finished(target), 0, -1)) do
    if redis.call('HGET', K.message(id), 'status') == 'completed' then kept = kept + 1 end
  end
end
redis.call('HINCRBY', K.counters(), 'pruned_completed', math.max(0, completed - kept))
redis.call('HDEL', K.counters(), 'sent', 'published', 'completed')
redis.call('HSET', K.meta(), 'schema', '2')
return 0
