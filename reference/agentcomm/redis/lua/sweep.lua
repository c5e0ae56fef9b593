-- sweep: settle lapsed leases and expire overdue pending messages (SPEC EXP-002).
-- Returns how many messages changed.
local changed = settle_leases()
promote_due()
local overdue = redis.call('ZRANGEBYSCORE', K.expiring, '-inf', NOW)
for _, id in ipairs(overdue) do
  local m = load(id)
  if not m or is_finished(m.status) then
    redis.call('ZREM', K.expiring, id)
  elseif m.status == 'pending' then
    redis.call('LREM', m.list, 1, id)
    redis.call('ZREM', K.delayed, id)
    finish(m, 'expired')
    changed = changed + 1
  end
end
return changed
