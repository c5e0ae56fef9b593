-- send: queue messages atomically, in order (SPEC MSG-001, MSG-004).
-- arg(1) sender, arg(2) how many; then 9 per message: to, type, payload, priority,
-- timeout_seconds, max_retries, correlation_id ('' none), expires_at ('' none), list key.
-- Returns the new message ids.
local sender, n = arg(1), tonumber(arg(2))
local ids, woken = {}, {}
for i = 0, n - 1 do
  local b = 2 + i * 9
  local to, list, cid, expires = arg(b + 1), arg(b + 9), arg(b + 7), arg(b + 8)
  local id = tostring(redis.call('INCR', K.seq_message))
  local m = {id = id, to_agent = to, priority = arg(b + 4)}
  redis.call('HSET', K.message(id), 'from_agent', sender, 'to_agent', to,
    'message_type', arg(b + 2), 'payload', arg(b + 3), 'status', 'pending',
    'priority', m.priority, 'created_at', NOW_TEXT, 'timeout_seconds', arg(b + 5),
    'retry_count', 0, 'max_retries', arg(b + 6), 'available_at', NOW_TEXT,
    'list', list, 'rev', 1)
  if cid ~= '' then redis.call('HSET', K.message(id), 'correlation_id', cid) end
  if expires ~= '' then
    redis.call('HSET', K.message(id), 'expires_at', expires)
    redis.call('ZADD', K.expiring, expires, id)
  end
  redis.call('LPUSH', list, id)
  count(m, 'pending', 1)
  audit('m:' .. id)
  woken[to] = (woken[to] or 0) + 1
  ids[#ids + 1] = id
end
for target, many in pairs(woken) do
  redis.call('SADD', K.targets, target)
  wake(target, many)
end
tally('sent', n)
return done(ids)
