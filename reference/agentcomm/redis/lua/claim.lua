-- claim: lease up to `limit` messages of one target, best first (SPEC CLAIM-001..005).
-- arg(1) agent, arg(2) token, arg(3) limit, arg(4..6) the target's lists high, normal, low,
-- arg(7) the target.
-- Returns {id, flat HGETALL} per claimed message, in claim order.
local agent, token, limit, target = arg(1), arg(2), tonumber(arg(3)), arg(7)
settle_leases(target)
promote_due(target)
local out = {}
for l = 4, 6 do
  local list = arg(l)
  while #out < limit do
    local id = redis.call('RPOP', list)
    if not id then break end
    local m = load(id)
    if not m then
      if not tonumber(id) then redis.call('RPUSH', K.unadopted, id) end  -- not ours: keep it
    elseif m.status == 'pending' and m.to_agent == target then  -- else pushed here wrongly
      if m.expires_at and tonumber(m.expires_at) <= NOW then
        finish(m, 'expired')  -- SPEC EXP-001: never handed out
      else
        local deadline = NOW + tonumber(m.timeout_seconds)
        move(m, 'processing')
        set(m, 'status', 'processing', 'claimed_by', agent, 'lease_token', token,
            'lease_expires_at', time_text(deadline), 'processed_at', NOW_TEXT)
        redis.call('ZADD', K.processing(target), deadline, id)
        out[#out + 1] = {id, flat(id)}
      end
    end
  end
end
return done(out)
