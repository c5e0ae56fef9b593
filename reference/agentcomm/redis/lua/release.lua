-- release: hand a claimed message back, pending at once, no retry counted (LEASE-005).
-- arg(1) id, arg(2) token.  Returns the message, flat.
local m, refusal = leased(arg(1), arg(2))
if not m then return redis.error_reply(refusal) end
redis.call('ZREM', K.processing(m.to_agent), m.id)
move(m, 'pending')
clear(m, 'lease_token', 'lease_expires_at', 'claimed_by')
set(m, 'status', 'pending', 'available_at', NOW_TEXT)
requeue(m)
return done(flat(m.id))
