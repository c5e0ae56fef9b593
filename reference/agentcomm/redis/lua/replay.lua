-- replay: a dead letter back to pending with a fresh retry budget (SPEC DLQ-002).
-- arg(1) id.  Returns the message, flat.
local operator_only = maintainer_refusal('replay dead letters')
if operator_only then return redis.error_reply(operator_only) end
local m = load(arg(1))
if not m then return redis.error_reply("not_found unknown message id '" .. arg(1) .. "'") end
if m.status ~= 'dead' then
  return redis.error_reply("conflict message '" .. m.id .. "' is " .. m.status ..
    ", not dead: nothing to replay")
end
if m.response_id then  -- SPEC REQ-007: its requester was answered; REQ-004: once
  return redis.error_reply("conflict request '" .. m.id .. "' died and its requester " ..
    "was answered so (reply " .. m.response_id .. "): send a new request instead")
end
redis.call('LREM', K.dead(), 1, m.id)
-- Pending again: sweep's next pass looks at it, should it be taken from its list.
local low = redis.call('HGET', K.sweep_scan(), 'low')
if not low or tonumber(m.id) < tonumber(low) then redis.call('HSET', K.sweep_scan(), 'low', m.id) end
depth(m.to_agent, 'dead', -1)
clear(m, 'finished_at', 'expires_at', 'lease_token', 'lease_expires_at', 'claimed_by',
  'dead_order')
m.expires_at = nil
set(m, 'status', 'pending', 'retry_count', 0, 'available_at', NOW_TEXT)
m.status = 'pending'
requeue(m)
serve_waiters(m.to_agent)
return done(flat(m.id))
