-- reply: answer a claimed request and complete it in one step (SPEC REQ-002..004), and
-- lease the next message of its target when asked (CLAIM-009).
-- arg(1..5) the next claim (THEN_ARGS), arg(6) id, arg(7) token, arg(8) sender,
-- arg(9) payload, arg(10) status.
-- The reply id is pushed on response:<requester>:<id>, where the requester waits on it.
-- Returns {{reply id, requester, correlation id or ''}, {target, next claims}}.
local m, refusal = leased(arg(THEN_ARGS + 1), arg(THEN_ARGS + 2), ANSWERED)
if not m then return refuse(refusal) end
refusal = then_refusal({m})
if refusal then return refuse(refusal) end
local rid = store_reply(m, arg(THEN_ARGS + 3), arg(THEN_ARGS + 4), arg(THEN_ARGS + 5))
finish(m, 'completed')
return done({{rid, m.from_agent, m.correlation_id or ''}, then_claim(m.to_agent)})
