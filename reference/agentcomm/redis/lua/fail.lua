-- fail: give a claimed message up; retried after a backoff or dead-lettered
-- (SPEC RETRY-001, RETRY-003), then lease the next of its target when asked (CLAIM-009).
-- arg(1..4) the next claim (THEN_ARGS), arg(5) id, arg(6) token, arg(7) reason,
-- arg(8) '1' retry.  Returns {the message, flat; {target, next claims}}.
local m, refusal = leased(arg(THEN_ARGS + 1), arg(THEN_ARGS + 2))
if not m then return redis.error_reply(refusal) end
refusal = then_refusal({m})
if refusal then return redis.error_reply(refusal) end
retry_or_bury(m, arg(THEN_ARGS + 3), arg(THEN_ARGS + 4) == '1', true)
return done({flat(m.id), then_claim(m.to_agent)})
