-- fail: give a claimed message up; retried after a backoff or dead-lettered
-- (SPEC RETRY-001, RETRY-003).  arg(1) id, arg(2) token, arg(3) reason, arg(4) '1' retry.
local m, refusal = leased(arg(1), arg(2))
if not m then return redis.error_reply(refusal) end
retry_or_bury(m, arg(3), arg(4) == '1', true)
return done(flat(m.id))
