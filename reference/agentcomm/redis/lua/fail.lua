-- fail: give a claimed message up; retried after a backoff or dead-lettered
-- (SPEC RETRY-001, RETRY-003), then lease the next of its target when asked (CLAIM-009).
-- arg(1..5) the next claim (THEN_ARGS), arg(6) id, arg(7) token, arg(8) reason,
-- arg(9) '1' retry.  Returns {the message, flat; {target, next claims}}.
local m, refusal = leased(arg(THEN_ARGS + 1), arg(THEN_ARGS + 2), STATE)
if not m then return refuse(refusal) end
refusal = then_refusal({m})
if refusal then return refuse(refusal) end
retry_or_bury(m, arg(THEN_ARGS + 3), arg(THEN_ARGS + 4) == '1', true)
return done({flat(m.id), then_claim(m.to_agent)})
