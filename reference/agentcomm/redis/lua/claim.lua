-- claim: lease up to `limit` messages of one target, best first (SPEC CLAIM-001..005).
-- arg(1) agent, arg(2) token, arg(3) limit, arg(4) the target, arg(5) the caller's box
-- when it will wait ('' when not), arg(6) how long it will wait, ms (claim_or_wait).
-- Returns {id, flat record} per claimed message, in claim order.
local out = claim_or_wait(arg(1), arg(2), tonumber(arg(3)), arg(4), arg(5), tonumber(arg(6)))
return done(out)
