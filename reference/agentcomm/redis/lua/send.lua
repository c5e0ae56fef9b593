-- send: queue messages atomically, in order (SPEC MSG-001, MSG-004).
-- arg(1) sender, arg(2) how many; then 8 per message: to, type, payload, priority,
-- timeout_seconds, max_retries, correlation_id ('' none), expires_at ('' none).
-- Returns the new message ids.  A record holds only what is not a default: retry_count
-- is 0 and available_at the created_at until a retry sets them (records.py reads both).
local sender, n = arg(1), tonumber(arg(2))
local ids, woken = {}, {}  -- woken: the targets sent to, whose waiters are served
for i = 0, n - 1 do
  local b = 2 + i * 8
  local to, priority, cid, expires = arg(b + 1), arg(b + 4), arg(b + 7), arg(b + 8)
  local id = string.format('%d', redis.call('INCR', K.seq_message()))
  local fields = {'from_agent', sender, 'to_agent', to, 'message_type', arg(b + 2),
    'payload', arg(b + 3), 'status', 'pending', 'priority', priority, 'created_at', NOW_TEXT,
    'timeout_seconds', arg(b + 5), 'max_retries', arg(b + 6)}
  if cid ~= '' then
    fields[#fields + 1] = 'correlation_id'
    fields[#fields + 1] = cid
  end
  if expires ~= '' then
    fields[#fields + 1] = 'expires_at'
    fields[#fields + 1] = expires
    redis.call('ZADD', K.expiring(), expires, id)
  end
  create(id, fields)
  redis.call('LPUSH', K.pending(to, priority), id)
  woken[to] = true
  ids[#ids + 1] = id
end
for target in pairs(woken) do
  redis.call('SADD', K.targets(), target)
  serve_waiters(target)
end
return ids
