-- sweep: settle lapsed leases and expire overdue pending messages (SPEC EXP-002), at most
-- `budget` messages per call, so that no call holds the server for long: the hub calls
-- it again while it reports more.
-- arg(1) budget, arg(2) how many overdue entries earlier steps left in place (messages
-- still leased at their deadline), to pass over.  Returns {1 when there may be more else
-- 0, how many overdue entries this step left, then the ids it changed}: the hub counts
-- each id once, so a lease settled in one step and expired in a later one counts once.
local operator_only = maintainer_refusal('sweep')
if operator_only then return redis.error_reply(operator_only) end
local budget, passed = tonumber(arg(1)), tonumber(arg(2))
local changed, spent, left = {}, 0, 0

local function result(more)
  local out = {more, left}
  for id in pairs(changed) do out[#out + 1] = id end
  return done(out)
end

for _, target in ipairs(redis.call('SMEMBERS', K.targets)) do
  if spent >= budget then return result(1) end
  local looked = settle_leases(target, changed, budget - spent)
  spent = spent + looked
  if spent >= budget then return result(1) end
  spent = spent + promote_due(target, budget - spent)
end
if spent >= budget then return result(1) end
local overdue = redis.call('ZRANGEBYSCORE', K.expiring, '-inf', NOW, 'LIMIT', passed,
  budget - spent)
for _, id in ipairs(overdue) do
  local m = load(id)
  if not m or is_finished(m.status) then
    redis.call('ZREM', K.expiring, id)
  elseif m.status == 'pending' then
    redis.call('LREM', K.pending(m.to_agent, m.priority), 1, id)
    redis.call('ZREM', K.delayed(m.to_agent), id)
    finish(m, 'expired')
    changed[id] = true
  else
    left = left + 1  -- leased: its holder may still finish it (EXP-001)
  end
end
return result(#overdue >= budget - spent and 1 or 0)
