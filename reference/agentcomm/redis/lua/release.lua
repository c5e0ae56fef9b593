-- release: hand a claimed message back, pending at once, no retry counted (LEASE-005),
-- then lease the next of its target when asked (CLAIM-009): the released message
-- itself, when it is the best there.
-- arg(1..5) the next claim (THEN_ARGS), arg(6) id, arg(7) token.
-- Returns {the message, flat; {target, next claims}}.
local m, refusal = leased(arg(THEN_ARGS + 1), arg(THEN_ARGS + 2), RETURNED)
if not m then return refuse(refusal) end
refusal = then_refusal({m})
if refusal then return refuse(refusal) end
redis.call('ZREM', K.processing(m.to_agent), m.id)
clear(m, 'lease_token', 'lease_expires_at', 'claimed_by')
set(m, 'status', 'pending', 'available_at', NOW_TEXT)
m.status = 'pending'
requeue(m)
serve_waiters(m.to_agent)
local released = flat(m.id)
return done({released, then_claim(m.to_agent)})
