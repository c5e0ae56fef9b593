-- claim: lease up to `limit` messages of one target, best first (SPEC CLAIM-001..005).
-- arg(1) agent, arg(2) token, arg(3) limit, arg(4) the target, arg(5) '1' when the caller
-- will wait for a message if none is there.
-- Returns {id, flat record} per claimed message, in claim order.
local out = claim_from(arg(1), arg(2), tonumber(arg(3)), arg(4), arg(5) == '1')
return done(out)
