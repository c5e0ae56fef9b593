-- get_reply: the reply to a request, read with the request in one step.  arg(1) id.
-- Returns the reply, flat, with the request's correlation_id; {} while unanswered.
local m = load(arg(1))
if not m then return redis.error_reply("not_found unknown message id '" .. arg(1) .. "'") end
if not m.response_id then return {} end
local reply = redis.call('HGETALL', K.reply(m.response_id))
reply[#reply + 1] = 'id'
reply[#reply + 1] = m.response_id
return reply
