-- reply: answer a claimed request and complete it in one step (SPEC REQ-002..004).
-- arg(1) id, arg(2) token, arg(3) sender, arg(4) payload, arg(5) status.
-- The reply id is pushed on response:<requester>:<id>, where the requester waits on it.
-- Returns {reply id, requester, correlation id or ''}.
local m, refusal = leased(arg(1), arg(2))
if not m then return redis.error_reply(refusal) end
local rid = tostring(redis.call('INCR', K.seq_reply))
redis.call('HSET', K.reply(rid), 'request_id', m.id, 'from_agent', arg(3),
  'to_agent', m.from_agent, 'response_payload', arg(4), 'response_status', arg(5),
  'created_at', NOW_TEXT, 'correlation_id', m.correlation_id or '')
redis.call('PEXPIRE', K.reply(rid), BACKSTOP_MS)
local response = K.response(m.from_agent, m.id)
redis.call('RPUSH', response, rid)
redis.call('PEXPIRE', response, BACKSTOP_MS)
audit('r:' .. rid)
set(m, 'response_id', rid)
finish(m, 'completed')
return done({rid, m.from_agent, m.correlation_id or ''})
