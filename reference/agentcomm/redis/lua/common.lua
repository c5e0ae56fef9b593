-- Shared by every agentcomm script (Lua 5.1, as Redis runs it); scripts.py puts it first.
--
-- No script uses KEYS: keys are derived from the prefix and from ids inside the script
-- (see keys.py; the key table K below is generated from it).  Every script gets the same
-- header arguments, then its own, read with arg(i):
--   ARGV[1] key prefix      ARGV[2] now (epoch seconds, the hub's clock)
--   ARGV[3] backoff_base    ARGV[4] backoff_max
--   ARGV[5] backstop TTL of finished records, ms (retention plus a margin)
--   ARGV[6] '1' when a hybrid hub wants its audit stream fed
-- Checks come before writes: a script that returns an error has changed nothing.
local P = ARGV[1]
local NOW_TEXT = ARGV[2]
local NOW = tonumber(NOW_TEXT)
local BACKOFF_BASE = tonumber(ARGV[3])
local BACKOFF_MAX = tonumber(ARGV[4])
local BACKSTOP_MS = tonumber(ARGV[5])
local AUDITED = ARGV[6] == '1'
local function arg(i) return ARGV[6 + i] end
--@KEYS@

local LEVEL = {['0'] = 'low', ['1'] = 'normal', ['2'] = 'high'}
local WAKE_TOKENS = 64  -- at most this many claimers woken per target at once

-- 17 significant digits read back as exactly the same double.
local function time_text(t) return string.format('%.17g', t) end

local function audit(ref)
  if AUDITED then redis.call('XADD', K.audit, '*', 'ref', ref) end
end

-- Counters are summed while a script runs and written once, by done(), at its end: a
-- batch of a thousand messages costs a few HINCRBYs, not thousands.
local DELTAS, TALLIES = {}, {}

local function add(sums, name, n) sums[name] = (sums[name] or 0) + n end

local function tally(name, n) add(TALLIES, name, n or 1) end

-- Depths for stats: '<target>:<status>', and '<target>:pending_<level>' for pending.
local function count(m, status, delta)
  add(DELTAS, m.to_agent .. ':' .. status, delta)
  if status == 'pending' then add(DELTAS, m.to_agent .. ':pending_' .. LEVEL[m.priority], delta) end
end

-- Every script that writes returns through done(), which writes the sums.
local function done(result)
  for field, delta in pairs(DELTAS) do
    if delta ~= 0 then redis.call('HINCRBY', K.depths, field, delta) end
  end
  for name, n in pairs(TALLIES) do redis.call('HINCRBY', K.counters, name, n) end
  return result
end

local function move(m, to)
  count(m, m.status, -1)
  count(m, to, 1)
  m.status = to
end

-- The fields of a message that decide what a script does (not its payload, which can
-- be large and is only read by those who receive the message).
local STATE = {'status', 'to_agent', 'from_agent', 'priority', 'lease_token',
  'lease_expires_at', 'retry_count', 'max_retries', 'timeout_seconds', 'expires_at',
  'list', 'rev', 'correlation_id', 'response_id'}

-- The message's state as a table, or nil when there is no such message.
local function load(id)
  local values = redis.call('HMGET', K.message(id), unpack(STATE))
  if not values[1] then return nil end
  local m = {id = id}
  for i, field in ipairs(STATE) do
    if values[i] then m[field] = values[i] end
  end
  return m
end

local function flat(id) return redis.call('HGETALL', K.message(id)) end

-- Every change bumps the message's revision (the hybrid audit keeps the newest).
local function set(m, ...)
  m.rev = tonumber(m.rev or '0') + 1
  redis.call('HSET', K.message(m.id), 'rev', m.rev, ...)
  audit('m:' .. m.id)
end

local function clear(m, ...) redis.call('HDEL', K.message(m.id), ...) end

local function is_finished(status)
  return status == 'completed' or status == 'dead' or status == 'expired'
end

-- The message if `token` holds its live lease; else nil and the refusal, in SPEC
-- LEASE-003's order: unknown id, wrong token, already finished, lapsed lease.
local function leased(id, token)
  local m = load(id)
  if not m then return nil, "not_found unknown message id '" .. id .. "'" end
  if m.lease_token ~= token then
    return nil, "stale_lease token does not hold the lease on message '" .. id ..
      "': it was reclaimed or never granted (status " .. m.status .. ")"
  end
  if is_finished(m.status) then
    return nil, "already_finished message '" .. id .. "' is already " .. m.status
  end
  local deadline = tonumber(m.lease_expires_at or NOW_TEXT)
  if deadline <= NOW then
    return nil, "stale_lease the lease on message '" .. id .. "' expired " ..
      string.format('%.3f', NOW - deadline) .. "s ago"
  end
  return m
end

local function wake(target, n)
  local key = K.wake(target)
  local room = WAKE_TOKENS - redis.call('LLEN', key)
  for _ = 1, math.min(n, room) do redis.call('LPUSH', key, '1') end
end

-- Back into its pending list at its send-order place (SPEC ORD-001).  The list runs
-- newest (head) to oldest (tail, claimed next); a returning message is nearly always
-- older than everything waiting, so the scan below is the rare case.
local function requeue(m)
  local list, id = m.list, tonumber(m.id)
  local tail = redis.call('LINDEX', list, -1)
  if not tail or (tonumber(tail) or 0) > id then
    redis.call('RPUSH', list, m.id)
  else
    local placed, stop = false, -1
    while not placed do
      local chunk = redis.call('LRANGE', list, stop - 99, stop)
      if #chunk == 0 then break end
      for i = #chunk, 1, -1 do
        if (tonumber(chunk[i]) or 0) > id then
          redis.call('LINSERT', list, 'AFTER', chunk[i], m.id)
          placed = true
          break
        end
      end
      stop = stop - 100
    end
    if not placed then redis.call('LPUSH', list, m.id) end
  end
  wake(m.to_agent, 1)
end

local function finish(m, status)
  move(m, status)
  set(m, 'status', status, 'finished_at', NOW_TEXT)
  redis.call('ZREM', K.processing(m.to_agent), m.id)
  if m.expires_at then redis.call('ZREM', K.expiring, m.id) end
  redis.call('ZADD', K.finished, NOW, m.id)
  redis.call('PEXPIRE', K.message(m.id), BACKSTOP_MS)
  tally(status)
end

-- SPEC RETRY-001: pending again after a backoff while retries remain, else dead.
-- A holder who buries its own message keeps its token, so its second complete reads
-- AlreadyFinished; a lapsed holder reads StaleLease.
local function retry_or_bury(m, reason, retry, by_holder)
  local retries = tonumber(m.retry_count or '0')
  tally('failed')
  redis.call('ZREM', K.processing(m.to_agent), m.id)
  if retry and retries < tonumber(m.max_retries or '3') then
    local due = NOW + math.min(BACKOFF_BASE * 2 ^ math.min(retries, 40), BACKOFF_MAX)
    move(m, 'pending')
    clear(m, 'lease_token', 'lease_expires_at', 'claimed_by')
    set(m, 'status', 'pending', 'retry_count', retries + 1, 'available_at', time_text(due),
        'last_error', reason)
    redis.call('ZADD', K.delayed(m.to_agent), due, m.id)
    tally('retried')
    return
  end
  move(m, 'dead')
  clear(m, 'lease_expires_at')
  if not by_holder then clear(m, 'lease_token') end
  -- The lifetime count doubles as the dead letter's place (SQLite's dead_order).
  local order = redis.call('HINCRBY', K.counters, 'dead', 1)
  set(m, 'status', 'dead', 'last_error', reason, 'finished_at', NOW_TEXT, 'dead_order', order)
  redis.call('ZREM', K.expiring, m.id)
  redis.call('RPUSH', K.dead, m.id)
end

-- SPEC CLAIM-005: a target's lapsed leases are settled (retried or buried).
-- Returns how many.
-- Marks each id it settles in ``settled`` (when given); returns how many entries it
-- looked at, so a caller can tell whether a batch of SETTLE_BATCH was the last.
local SETTLE_BATCH = 1000
local function settle_leases(target, settled)
  local processing = K.processing(target)
  local lapsed = redis.call('ZRANGEBYSCORE', processing, '-inf', NOW, 'LIMIT', 0, SETTLE_BATCH)
  for _, id in ipairs(lapsed) do
    local m = load(id)
    if m and m.status == 'processing' then
      retry_or_bury(m, 'lease expired', true, false)
      if settled then settled[id] = true end
    else
      redis.call('ZREM', processing, id)
    end
  end
  return #lapsed
end

-- A target's retried messages whose backoff has ended go back to their lists.
local function promote_due(target)
  local delayed = K.delayed(target)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', NOW, 'LIMIT', 0, 1000)
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    local m = load(id)
    if m and m.status == 'pending' then requeue(m) end
  end
end

-- The design's heartbeat key: the registry entry as JSON, gone when the TTL runs out.
local function beat(agent)
  local r = redis.call('HMGET', K.registry(agent), 'process_id', 'capabilities',
    'current_load', 'heartbeat_ttl')
  local entry = '{"status":"active","pid":' .. (r[1] or 'null') .. ',"capabilities":' ..
    r[2] .. ',"load":' .. r[3] .. ',"timestamp":' .. NOW_TEXT .. '}'
  local ttl_ms = math.max(1, math.floor(tonumber(r[4]) * 1000))
  redis.call('SET', K.heartbeat(agent), entry, 'PX', ttl_ms)
  audit('a:' .. agent)
end
