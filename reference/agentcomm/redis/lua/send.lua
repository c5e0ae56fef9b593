-- send: queue messages atomically, in order (SPEC MSG-001, MSG-004).
-- arg(1) sender, arg(2) how many; then 8 per message: to, type, payload, priority,
-- timeout_seconds, max_retries, correlation_id ('' none), expires_at ('' none).
-- Returns the new message ids.  A record holds only what is not a default: retry_count
-- is 0 and available_at the created_at until a retry sets them (records.py reads both).
-- A batch costs one INCRBY for its ids and one LPUSH per pending list it adds to.
local sender, n = arg(1), tonumber(arg(2))
local last = redis.call('INCRBY', K.seq_message(), arg(2))  -- text: no float formatting
-- woken: the targets sent to, whose waiters are served; queued: each pending list's ids
local ids, woken, queued = {}, {}, {}
for i = 0, n - 1 do
  local b = 2 + i * 8
  local to, priority, cid, expires = arg(b + 1), arg(b + 4), arg(b + 7), arg(b + 8)
  local id = string.format('%d', last - n + 1 + i)
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
  local list = K.pending(to, priority)
  if n == 1 then  -- one message a call, the common case: no table of lists to build
    redis.call('LPUSH', list, id)
  else
    append(queued, list, id)
  end
  woken[to] = true
  ids[#ids + 1] = id
end
for list, its in pairs(queued) do  -- LPUSH a b c leaves c at the head, as three LPUSHes
  each_step('LPUSH', list, its)
end
for target in pairs(woken) do
  redis.call('SADD', K.targets(), target)
  serve_waiters(target)
end
return ids
