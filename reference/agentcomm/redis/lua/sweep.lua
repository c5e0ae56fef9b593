-- sweep: settle lapsed leases and expire overdue pending messages (SPEC EXP-002), and put
-- back in their lists the messages taken from them outside agentcomm (COMPAT-011), at
-- most `budget` messages per call, so that no call holds the server for long: the hub
-- calls it again while it reports more.
-- arg(1) budget, arg(2) how many overdue entries earlier steps left in place (messages
-- still leased at their deadline), to pass over, arg(3) how many more message ids this
-- sweep may look at for one taken from its list.  Returns {1 when there may be more else
-- 0, how many overdue entries this step left, how many ids it looked at, then the ids it
-- changed}: the hub counts each id once, so a lease settled in one step and expired in a
-- later one counts once.
local operator_only = maintainer_refusal('sweep')
if operator_only then return redis.error_reply(operator_only) end
local budget, passed, allowance = tonumber(arg(1)), tonumber(arg(2)), tonumber(arg(3))
local changed, spent, left, looked = {}, 0, 0, 0

local function result(more)
  local out = {more, left, looked}
  for id in pairs(changed) do out[#out + 1] = id end
  return done(out)
end

-- 1. Lapsed leases, and retries whose backoff ended.
for _, target in ipairs(redis.call('SMEMBERS', K.targets())) do
  if spent >= budget then return result(1) end
  local looked = settle_leases(target, changed, budget - spent)
  spent = spent + looked
  if spent >= budget then return result(1) end
  spent = spent + promote_due(target, budget - spent)
  serve_waiters(target)
end
if spent >= budget then return result(1) end

-- 2. Overdue pending messages.
local overdue = redis.call('ZRANGEBYSCORE', K.expiring(), '-inf', NOW, 'LIMIT', passed,
  budget - spent)
for _, id in ipairs(overdue) do
  local m = load(id)
  if not m or is_finished(m.status) then
    redis.call('ZREM', K.expiring(), id)
  elseif m.status == 'pending' then
    redis.call('LREM', K.pending(m.to_agent, m.priority), 1, id)
    redis.call('ZREM', K.delayed(m.to_agent), id)
    finish(m, 'expired')
    changed[id] = true
  else
    left = left + 1  -- leased: its holder may still finish it (EXP-001)
  end
end
if #overdue >= budget - spent then return result(1) end
spent = spent + #overdue

-- 3. A design reader's BRPOP (or any other pop) takes an id off its list and leaves the
-- message pending.  Lists run from the newest id to the oldest, which is claimed next:
-- a pending, available message older than its list's tail is not in it, so it goes back
-- there.  Each sweep looks at a bounded number of ids, from where the last one stopped;
-- a pass over the ids ends at the newest, and the next starts at the lowest id that was
-- unfinished in it (replay lowers that mark too).
local function taken(id, state)
  if state[4] and tonumber(state[4]) > NOW then return false end  -- in its backoff
  if redis.call('ZSCORE', K.delayed(state[2]), id) then return false end
  local tail = redis.call('LINDEX', K.pending(state[2], state[3]), -1)
  if not tail then return true end
  return tonumber(tail) ~= nil and tonumber(tail) > tonumber(id)  -- not a design item
end

local scan = redis.call('HMGET', K.sweep_scan(), 'next', 'low')
local cursor, low = tonumber(scan[1] or '1'), tonumber(scan[2] or '')
local last = tonumber(redis.call('GET', K.seq_message()) or '0')
local function save()
  redis.call('HSET', K.sweep_scan(), 'next', cursor)
  if low then redis.call('HSET', K.sweep_scan(), 'low', low)
  else redis.call('HDEL', K.sweep_scan(), 'low') end
end

while looked < allowance do
  if spent >= budget then
    save()
    return result(1)
  end
  if cursor > last then  -- the pass is over: the next one starts at its lowest
    cursor, low = low or cursor, nil
    break
  end
  local id = tostring(cursor)
  local state = redis.call('HMGET', K.message(id), 'status', 'to_agent', 'priority',
    'available_at')
  if state[1] == 'pending' or state[1] == 'processing' then low = low or cursor end
  if state[1] == 'pending' and taken(id, state) then
    local m = load(id)
    set(m, 'last_error', 'taken from ' .. K.pending(m.to_agent, m.priority) ..
      ' by a reader outside agentcomm (a BRPOP?); put back by sweep')
    requeue(m)
    changed[id] = true
  end
  cursor, spent, looked = cursor + 1, spent + 1, looked + 1
end
save()
return result(0)
