-- extend: renew a live lease (SPEC LEASE-004).  arg(1) id, arg(2) token,
-- arg(3) seconds ('' = the message's timeout_seconds).  Returns the message, flat.
local m, refusal = leased(arg(1), arg(2), RETURNED)
if not m then return redis.error_reply(refusal) end
local seconds = arg(3) ~= '' and tonumber(arg(3)) or tonumber(m.timeout_seconds)
local deadline = NOW + seconds
set(m, 'lease_expires_at', time_text(deadline))
redis.call('ZADD', K.processing(m.to_agent), deadline, m.id)
return flat(m.id)
