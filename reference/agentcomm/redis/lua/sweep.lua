-- sweep: settle lapsed leases and expire overdue pending messages (SPEC EXP-002).
-- Returns how many messages changed: a lease that lapsed past the message's deadline is
-- settled and then expired, and counts once.
local operator_only = maintainer_refusal('sweep')
if operator_only then return redis.error_reply(operator_only) end
local changed = {}
for _, target in ipairs(redis.call('SMEMBERS', K.targets)) do
  while settle_leases(target, changed) == SETTLE_BATCH do end  -- every lapsed lease
  promote_due(target)
end
local overdue = redis.call('ZRANGEBYSCORE', K.expiring, '-inf', NOW)
for _, id in ipairs(overdue) do
  local m = load(id)
  if not m or is_finished(m.status) then
    redis.call('ZREM', K.expiring, id)
  elseif m.status == 'pending' then
    redis.call('LREM', K.pending(m.to_agent, m.priority), 1, id)
    redis.call('ZREM', K.delayed(m.to_agent), id)
    finish(m, 'expired')
    changed[id] = true
  end
end
local count = 0
for _ in pairs(changed) do count = count + 1 end
return done(count)
