-- sweep: settle lapsed leases and expire overdue pending messages (SPEC EXP-002).
-- Returns how many messages changed.
local changed = 0
for _, target in ipairs(redis.call('SMEMBERS', K.targets)) do
  changed = changed + settle_leases(target)
  promote_due(target)
end
local overdue = redis.call('ZRANGEBYSCORE', K.expiring, '-inf', NOW)
for _, id in ipairs(overdue) do
  local m = load(id)
  if not m or is_finished(m.status) then
    redis.call('ZREM', K.expiring, id)
  elseif m.status == 'pending' then
    redis.call('LREM', m.list, 1, id)
    redis.call('ZREM', K.delayed(m.to_agent), id)
    finish(m, 'expired')
    changed = changed + 1
  end
end
return done(changed)
