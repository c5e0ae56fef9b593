-- Shared by every agentcomm function (Lua 5.1, as Redis runs it): scripts.py puts it
-- in the library before the functions, which are the other files of lua/.
--
-- This code runs once, when the library is loaded, and may only define: every call
-- begins with begin(argv), which reads the header arguments (generated from
-- scripts.HEADER) into the variables below and resets the per-call state.  A function's
-- own arguments follow the header, read with arg(i).
-- No function uses KEYS: keys are derived from the prefix and from ids inside it (see
-- keys.py; the key table K is generated from it).
-- Checks come before writes: a function that returns an error has changed nothing.
--@HEADER@
--@KEYS@
--@VOCABULARY@

local HANDOFF_TTL_TEXT = '60000'  -- ms: a claim handed to a waiter is read at once or never

-- Numbers given to redis.call are turned into text with a float format, which costs more
-- than the call itself: small counts are given as text.
local COUNTS = {'1', '2', '3', '4', '5', '6', '7', '8', '9', '10'}

-- 17 significant digits read back as exactly the same double.  The last text is kept:
-- a batch's leases share one deadline, and a float format costs more than a command.
local last_time, last_time_text
local function time_text(t)
  if t ~= last_time then last_time, last_time_text = t, string.format('%.17g', t) end
  return last_time_text
end

local function audit(ref)
  if AUDITED then redis.call('XADD', K.audit(), '*', 'ref', ref) end
end

-- Counters are summed while a script runs and written once, by done(), at its end: a
-- batch of a thousand messages costs a few HINCRBYs, not thousands.  Only what cannot
-- be derived is counted: 'sent' and 'published' are the id sequences, 'completed' the
-- finished sets plus what prune removed, pending and processing depths the lengths of
-- their lists and sets (stats.lua).
local DELTAS, TALLIES

local function add(sums, name, n) sums[name] = (sums[name] or 0) + n end

local function tally(name, n) add(TALLIES, name, n or 1) end

-- Depths of the two finished states that no structure counts per target.
local function depth(target, status, delta) add(DELTAS, target .. ':' .. status, delta) end

-- Every script that writes returns through done(), which writes the sums.
local function done(result)
  for field, delta in pairs(DELTAS) do
    if delta ~= 0 then redis.call('HINCRBY', K.depths(), field, delta) end
  end
  for name, n in pairs(TALLIES) do redis.call('HINCRBY', K.counters(), name, n) end
  return result
end

-- The fields of a message that decide what a function does (not its payload, which can
-- be large and is only read by those who receive the message).  Every value that
-- crosses between Redis and Lua costs about as much as a small command, so each use
-- reads only what it needs: STATE for the rare paths, the shorter lists for the hot ones.
local STATE = {'status', 'to_agent', 'from_agent', 'priority', 'lease_token',
  'lease_expires_at', 'retry_count', 'max_retries', 'timeout_seconds', 'expires_at',
  'correlation_id', 'response_id', 'envelope_id'}
local HELD = {'status', 'lease_token', 'lease_expires_at', 'to_agent', 'expires_at'}
local ANSWERED = {'status', 'lease_token', 'lease_expires_at', 'to_agent', 'expires_at',
  'from_agent', 'correlation_id', 'envelope_id'}
local RETURNED = {'status', 'lease_token', 'lease_expires_at', 'to_agent', 'expires_at',
  'priority', 'timeout_seconds'}

-- The message's `fields` (STATE by default) as a table, or nil when there is no such
-- message.  An audited hub's revision comes along (set() bumps it).
local function load(id, fields)
  local names = fields or STATE
  local values = redis.call('HMGET', K.message(id), unpack(names))
  if not values[1] then return nil end
  local m = {id = id}
  for i, field in ipairs(names) do
    if values[i] then m[field] = values[i] end
  end
  if AUDITED then m.rev = redis.call('HGET', K.message(id), 'rev') end
  return m
end

-- The value of `name` in a flat HGETALL reply, without building a table of it.
local function field(flat_reply, name)
  for i = 1, #flat_reply, 2 do
    if flat_reply[i] == name then return flat_reply[i + 1] end
  end
  return nil
end

local function flat(id) return redis.call('HGETALL', K.message(id)) end

-- Every change of an audited hub bumps the message's revision (the audit keeps the newest).
local function set(m, ...)
  if AUDITED then
    m.rev = tonumber(m.rev or '0') + 1
    redis.call('HSET', K.message(m.id), 'rev', m.rev, ...)
    audit('m:' .. m.id)
  else
    redis.call('HSET', K.message(m.id), ...)
  end
end

local function clear(m, ...) redis.call('HDEL', K.message(m.id), ...) end

-- A new message's record from its flat `fields` (revision 1 on an audited hub).
local function create(id, fields)
  if AUDITED then
    fields[#fields + 1] = 'rev'
    fields[#fields + 1] = '1'
    audit('m:' .. id)
  end
  redis.call('HSET', K.message(id), unpack(fields))
end

local function is_finished(status) return FINISHED[status] ~= nil end

-- A lease token is kept only as its digest: whoever reads the record cannot finish the
-- message, only the claimer who holds the token (SPEC LEASE-002).  fakeredis has no
-- sha1hex; it serves one process, where nobody can read what they may not use anyway.
-- The last digest is kept: a batch claimed together shares one token.
local last_token, last_digest
local function digest(token)
  if not redis.sha1hex then return token end
  if token ~= last_token then last_token, last_digest = token, redis.sha1hex(token) end
  return last_digest
end

-- Under the ACL recipe (acl.py) a user may not write another agent's per-target keys,
-- and Redis refuses a script's command only when the script reaches it, keeping what it
-- wrote before.  So a function about to change a message of an inbox asks first: a
-- refusal then changes nothing.  Queues are everyone's: no question asked there.
local function inbox_refusal(m)
  if string.sub(m.to_agent, 1, 1) ~= '@' or not redis.acl_check_cmd or
      redis.acl_check_cmd('ZREM', K.processing(m.to_agent), m.id) then
    return nil
  end
  return "configuration this Redis user may not change the messages of " .. m.to_agent ..
    "'s inbox (see the ACL recipe in the README)"
end

-- Maintenance (sweep, prune, dead letters, a layout migration) reaches every agent's
-- keys: it is the operator's.  A user who may not remove dead letters (an agent, under
-- the recipe) is refused before anything is written.
local function maintainer_refusal(what)
  if not redis.acl_check_cmd or redis.acl_check_cmd('LREM', K.dead(), '0', '') then
    return nil
  end
  return "configuration this Redis user may not " .. what .. ": that is the operator's " ..
    "(see the ACL recipe in the README)"
end

-- The message (its `fields`, HELD by default) if `token` holds its live lease; else nil
-- and the refusal, in SPEC LEASE-003's order: unknown id, wrong token, already finished,
-- lapsed lease; and the caller may write the message's target (inbox_refusal).
local function leased(id, token, fields)
  local m = load(id, fields or HELD)
  if not m then return nil, "not_found unknown message id '" .. id .. "'" end
  if m.lease_token ~= digest(token) then
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
  local refusal = inbox_refusal(m)
  if refusal then return nil, refusal end
  return m
end

-- Each message of `pairs_at` (ids and tokens from arg(first)), if every token holds its
-- lease and no id comes twice; else nil and the first refusal.
local function all_leased(n, first)
  local held, seen = {}, {}
  for i = 0, n - 1 do
    local id = arg(first + 2 * i)
    if seen[id] then return nil, "already_finished message '" .. id .. "' is named twice" end
    seen[id] = true
    local m, refusal = leased(id, arg(first + 1 + 2 * i))
    if not m then return nil, refusal end
    held[#held + 1] = m
  end
  return held
end

-- The server's own clock, in milliseconds: waiting is measured in real time on the
-- server (BLPOP's timeout), whatever clock the hub's callers use.
local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Back into its pending list at its send-order place (SPEC ORD-001).  The list runs
-- newest (head) to oldest (tail, claimed next); a returning message is nearly always
-- older than everything waiting, so the scan below is the rare case.
local function requeue(m)
  local list, id = K.pending(m.to_agent, m.priority), tonumber(m.id)
  local tail = redis.call('LINDEX', list, '-1')
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
end

-- A variadic command over `items` (members, or score-member pairs), in steps: unpack()
-- has a limit.  One command instead of one per item saves the call and, more, its copy
-- in the append-only file (BENCHMARKS.md).
local STEP = 1000  -- even: score-member pairs stay whole
local function each_step(command, key, items)
  for j = 1, #items, STEP do
    redis.call(command, key, unpack(items, j, math.min(j + STEP - 1, #items)))
  end
end

-- Adds `value` to the list by_key[key], made when missing: grouping for each_step.
local function append(by_key, key, value)
  local items = by_key[key]
  if not items then
    items = {}
    by_key[key] = items
  end
  items[#items + 1] = value
end

-- Completed or expired, in the record (the sets are the caller's).
local function mark_finished(m, status)
  set(m, 'status', status, 'finished_at', NOW_TEXT)
  if status == 'expired' then  -- rare: counted; completions are counted by stats.lua
    depth(m.to_agent, 'expired', 1)
    tally('expired')
  end
end

-- Completed or expired: kept in the target's finished set until retention prunes it.
local function finish(m, status)
  mark_finished(m, status)
  if m.status == 'processing' then redis.call('ZREM', K.processing(m.to_agent), m.id) end
  if m.expires_at then redis.call('ZREM', K.expiring(), m.id) end
  redis.call('ZADD', K.finished(m.to_agent), NOW_TEXT, m.id)
  m.status = status
end

-- finish() for many messages, of any targets, each set changed by one command per target.
-- (Only for many: the tables cost one message more than they save.)
local function finish_all(ms, status)
  if #ms == 1 then return finish(ms[1], status) end
  local leases, finished, expiring = {}, {}, {}
  for _, m in ipairs(ms) do
    mark_finished(m, status)
    if m.status == 'processing' then append(leases, m.to_agent, m.id) end
    if m.expires_at then expiring[#expiring + 1] = m.id end
    append(finished, m.to_agent, NOW_TEXT)
    append(finished, m.to_agent, m.id)
    m.status = status
  end
  for target, ids in pairs(leases) do each_step('ZREM', K.processing(target), ids) end
  each_step('ZREM', K.expiring(), expiring)
  for target, scored in pairs(finished) do each_step('ZADD', K.finished(target), scored) end
end

-- A reply to `m` from `from`, stored and pushed on the requester's reply list, where it
-- waits (SPEC REQ-003, COMPAT-007), and PUBLISHed, as its JSON form, on the design's
-- channel response:<requester>:<the id the requester knows>.  Returns its id.
local function store_reply(m, from, payload, status)
  local rid = string.format('%d', redis.call('INCR', K.seq_reply()))
  redis.call('HSET', K.reply(rid), 'request_id', m.id, 'from_agent', from,
    'to_agent', m.from_agent, 'response_payload', payload, 'response_status', status,
    'created_at', NOW_TEXT, 'correlation_id', m.correlation_id or '')
  -- The design's response key, with a TTL (COMPAT-007): retention plus a margin.
  local response = K.response(m.from_agent, m.id)
  redis.call('RPUSH', response, rid)
  redis.call('PEXPIRE', response, REPLY_TTL_MS)  -- text: no float formatting
  -- Ids, agent ids and correlation ids hold no quote or backslash (SPEC LIMIT-001).
  local cid = m.correlation_id and ('"' .. m.correlation_id .. '"') or 'null'
  redis.call('PUBLISH', K.response(m.from_agent, m.envelope_id or m.id),
    '{"id":"' .. rid .. '","request_id":"' .. m.id .. '","from_agent":"' .. from ..
    '","to_agent":"' .. m.from_agent .. '","payload":' .. payload .. ',"status":"' ..
    status .. '","created_at":' .. NOW_TEXT .. ',"correlation_id":' .. cid .. '}')
  audit('r:' .. rid)
  set(m, 'response_id', rid)
  m.response_id = rid
  return rid
end

-- SPEC REQ-007: a request (a correlation id and a deadline, REQ-001) that dies is
-- answered by the hub, from the agent that held it last, so its requester stops waiting.
local function answer_death(m, reason)
  if not (m.correlation_id and m.expires_at) or m.response_id then return end
  local holder = redis.call('HGET', K.message(m.id), 'claimed_by') or m.to_agent
  store_reply(m, holder, cjson.encode({error = 'dead_letter', reason = reason}), 'error')
end

-- Dead, with the reason (the caller puts the id on the dead-letter list).
local function entomb(m, reason)
  -- The lifetime count doubles as the dead letter's place (SQLite's dead_order).
  local order = redis.call('HINCRBY', K.counters(), 'dead', 1)
  set(m, 'status', 'dead', 'last_error', reason, 'finished_at', NOW_TEXT, 'dead_order', order)
  m.status = 'dead'
  depth(m.to_agent, 'dead', 1)
  if m.expires_at then redis.call('ZREM', K.expiring(), m.id) end
end

-- SPEC RETRY-001: pending again after a backoff while retries remain, else dead.
-- A holder who buries its own message keeps its token, so its second complete reads
-- AlreadyFinished; a lapsed holder reads StaleLease.
local function retry_or_bury(m, reason, retry, by_holder)
  local retries = tonumber(m.retry_count or '0')
  tally('failed')
  redis.call('ZREM', K.processing(m.to_agent), m.id)
  local most = m.max_retries and tonumber(m.max_retries) or DEFAULT_MAX_RETRIES
  if retry and retries < most then
    local due = NOW + math.min(BACKOFF_BASE * 2 ^ math.min(retries, 40), BACKOFF_MAX)
    clear(m, 'lease_token', 'lease_expires_at', 'claimed_by')
    set(m, 'status', 'pending', 'retry_count', retries + 1, 'available_at', time_text(due),
        'last_error', reason)
    m.status = 'pending'
    redis.call('ZADD', K.delayed(m.to_agent), due, m.id)
    tally('retried')
    return
  end
  clear(m, 'lease_expires_at')
  if not by_holder then clear(m, 'lease_token') end
  entomb(m, reason)
  redis.call('RPUSH', K.dead(), m.id)
  answer_death(m, reason)
end

-- SPEC CLAIM-005: a target's lapsed leases are settled (retried or buried), at most
-- `limit` (default SETTLE_BATCH).  Marks each id it settles in `settled` (when given);
-- returns how many entries it looked at, so a caller can tell whether it was the last.
local SETTLE_BATCH = 1000
local function settle_leases(target, settled, limit)
  local processing = K.processing(target)
  local lapsed = redis.call('ZRANGEBYSCORE', processing, '-inf', NOW_TEXT, 'LIMIT', '0',
                           string.format('%d', limit or SETTLE_BATCH))
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

-- A target's retried messages whose backoff has ended go back to their lists, at most
-- `limit` (default 1000); returns how many it looked at.
local function promote_due(target, limit)
  local delayed = K.delayed(target)
  local due = redis.call('ZRANGEBYSCORE', delayed, '-inf', NOW_TEXT, 'LIMIT', '0',
                         string.format('%d', limit or 1000))
  for _, id in ipairs(due) do
    redis.call('ZREM', delayed, id)
    local m = load(id)
    if m and m.status == 'pending' then requeue(m) end
  end
  return #due
end

-- adopt(item, target, level): the id of the message made of an item of a pending list
-- that names no message (the design's JSON envelope), or nil when the item could only be
-- kept as a dead letter.  Defined with the other design helpers, in design.lua.
local adopt

-- Lease one item popped from a pending list of `target` at `level`, if it is a claimable
-- message: appends {id, flat record} to `out`, and its deadline and id to `leases` (for
-- the claim's one ZADD).  A message past its deadline expires instead (SPEC EXP-001);
-- an item that names no message is adopted, never dropped.
local function lease_popped(id, target, level, agent, token_digest, out, leases)
  local fields = flat(id)
  if #fields == 0 then
    id = adopt(id, target, level)
    if not id then return end
    fields = flat(id)
  end
  if field(fields, 'status') ~= 'pending' or field(fields, 'to_agent') ~= target then
    return  -- pushed here wrongly
  end
  local m = {id = id, status = 'pending', to_agent = target,
             expires_at = field(fields, 'expires_at')}
  if AUDITED then m.rev = field(fields, 'rev') end
  if m.expires_at and tonumber(m.expires_at) <= NOW then
    finish(m, 'expired')
    return
  end
  local lease = time_text(NOW + tonumber(field(fields, 'timeout_seconds')))
  set(m, 'status', 'processing', 'claimed_by', agent, 'lease_token', token_digest,
      'lease_expires_at', lease, 'processed_at', NOW_TEXT)
  leases[#leases + 1], leases[#leases + 2] = lease, id  -- text: no float formatting
  -- Later fields override earlier ones when the client reads the flat reply.
  local n = #fields
  fields[n + 1], fields[n + 2] = 'status', 'processing'
  fields[n + 3], fields[n + 4] = 'claimed_by', agent
  fields[n + 5], fields[n + 6] = 'lease_expires_at', lease
  fields[n + 7], fields[n + 8] = 'processed_at', NOW_TEXT
  out[#out + 1] = {id, fields}
end

-- A sorted set of up to 128 members is a listpack, which keeps each score as text and
-- reads every score back (strtod of 17 digits) to place a new one: a lease deadline,
-- the latest, goes last.  Leasing a batch into one, even in one ZADD, costs more than
-- all its other commands (BENCHMARKS.md).  A member longer than 64 bytes makes the set
-- a skiplist, which it stays until it empties: a batch claim adds this one first, in the
-- ZADD of its leases, and removes it last, in the same function, so no reader ever sees
-- it (COMPAT-007).
local SKIPLIST_MEMBER = '~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~'
local SKIPLIST_FROM = 8  -- fewer leases at once go to a small set, where a listpack is cheap

-- The leases of one claim (deadline, id, ...) into `target`'s processing set.
local function add_leases(target, leases)
  if #leases == 0 then return end
  local processing = K.processing(target)
  if #leases < 2 * SKIPLIST_FROM then
    redis.call('ZADD', processing, unpack(leases))
    return
  end
  table.insert(leases, 1, SKIPLIST_MEMBER)
  table.insert(leases, 1, '+inf')
  each_step('ZADD', processing, leases)
  redis.call('ZREM', processing, SKIPLIST_MEMBER)
end

-- SPEC CLAIM-001..005: lease up to `limit` messages of `target`, highest priority first,
-- oldest first within a level; lapsed leases and ended backoffs are settled first.
-- Returns {id, flat record} per message, in claim order.
local function claim_from(agent, token_digest, limit, target, likely_empty)
  settle_leases(target)
  promote_due(target)
  local out = {}
  if likely_empty and redis.call('EXISTS', K.pending(target, 2), K.pending(target, 1),
                                 K.pending(target, 0)) == 0 then
    return out  -- one look instead of three pops
  end
  local leases = {}
  for level = 2, 0, -1 do
    local list = K.pending(target, level)
    while #out < limit do
      local want = limit - #out
      local popped = redis.call('RPOP', list, COUNTS[want] or string.format('%d', want))
      if not popped then break end
      for _, id in ipairs(popped) do
        lease_popped(id, target, level, agent, token_digest, out, leases)
      end
      if #popped < want then break end
    end
  end
  add_leases(target, leases)
  return out
end

-- Waiting claimers (SPEC CLAIM-006, CLAIM-007).  A claim that finds nothing and will wait
-- leaves a registration in waiters:<target> (its deadline on the server's clock, how many
-- it takes, its token's digest, its agent, and its box: a list only its handle reads, with
-- a BLPOP sent right behind the claim).  A call that makes messages claimable then claims
-- them on the waiter's behalf, under the waiter's token, and hands the claims over in its
-- box: the waiter gets its message in the same round trip as the send, and a message is
-- never out of both its list and a lease.  A waiter that dies while waiting holds what it
-- was handed as a claimer that dies holding it does: until the lease lapses.
local WAITER = '^(%d+) (%d+) (%x+) (%S+) (%S+)$'

local function register_waiter(target, agent, token_digest, limit, box, block_ms)
  local key, now_ms = K.waiters(target), server_ms()
  -- Registrations that ran out are dropped from the head, where the oldest are.
  for _ = 1, 8 do
    local head = redis.call('LINDEX', key, '0')
    local deadline = head and tonumber(string.match(head, '^(%d+)'))
    if not deadline or deadline > now_ms then break end
    redis.call('LPOP', key)
  end
  -- The deadline falls before the BLPOP's timeout, so nothing is handed over unread.
  local deadline = now_ms + math.max(0, block_ms - 20)
  redis.call('RPUSH', key, string.format('%d %d %s %s %s', deadline, limit, token_digest,
                                         agent, box))
end

-- May this caller claim from `target` for someone else?  Under the ACL recipe an agent
-- may not pop another agent's inbox: it then only wakes the waiter, which claims itself.
-- (fakeredis has no acl_check_cmd; everyone may do everything there.)
local function may_claim_for(target)
  if not redis.acl_check_cmd then return true end
  for level = 0, 2 do
    if not redis.acl_check_cmd('RPOP', K.pending(target, level)) then return false end
  end
  return redis.acl_check_cmd('ZADD', K.processing(target), '0', 'x')
    and redis.acl_check_cmd('ZADD', K.delayed(target), '0', 'x')
    and redis.acl_check_cmd('ZADD', K.finished(target), '0', 'x')
end

local function hand_over(box, item)
  redis.call('RPUSH', box, item)
  redis.call('PEXPIRE', box, HANDOFF_TTL_TEXT)
end

-- Hand what `target` now has to its waiters, oldest registration first.
local function serve_waiters(target)
  local key = K.waiters(target)
  if redis.call('EXISTS', key) == 0 then return end
  local now_ms, allowed = server_ms(), may_claim_for(target)
  while true do
    local entry = redis.call('LPOP', key)
    if not entry then return end
    local deadline, limit, token_digest, agent, box = string.match(entry, WAITER)
    if deadline and tonumber(deadline) > now_ms then
      if not allowed then  -- wake it with an empty item: it claims for itself
        hand_over(box, '')
        return
      end
      local out = claim_from(agent, token_digest, tonumber(limit), target)
      if #out == 0 then  -- nothing left to hand over: the waiter keeps its place
        redis.call('LPUSH', key, entry)
        return
      end
      hand_over(box, cjson.encode(out))
    end
  end
end

-- A claim by a caller that waits: its own claims when there are any (and an empty item in
-- its box, so that the BLPOP behind it returns at once), else its registration.
-- `box` '' means the caller does not wait.
local function claim_or_wait(agent, token, limit, target, box, block_ms)
  local out = claim_from(agent, digest(token), limit, target, box ~= '')
  if box ~= '' then
    if #out > 0 then
      hand_over(box, '')
    else
      register_waiter(target, agent, digest(token), limit, box, block_ms)
    end
  end
  return out
end

-- Finishing functions (complete, reply, fail, release) start with five arguments that ask
-- for the next claim in the same step (SPEC CLAIM-009): how many ('0': none), for which
-- agent, under which token, and the caller's box and block time when it will wait
-- (claim_or_wait).  The next messages come from the target of the finished ones, which
-- must be one target, and a queue or the claiming agent's own inbox.
local THEN_ARGS = 5
local function then_refusal(held)
  if tonumber(arg(1)) == 0 then return nil end
  local target = held[1].to_agent
  for _, m in ipairs(held) do
    if m.to_agent ~= target then
      return "invalid_input claim_next needs the finished messages to share one target, " ..
        "not '" .. target .. "' and '" .. m.to_agent .. "'"
    end
  end
  if string.sub(target, 1, 1) == '@' and target ~= arg(2) then
    return "invalid_input agent '" .. arg(2) .. "' may claim from its own inbox or a " ..
      "queue, not from '" .. target .. "''s inbox"
  end
  return nil
end

-- A finishing function's refusal: the caller's box gets its empty item first, so that a
-- BLPOP sent behind the function returns at once (the box is the caller's own).
local function refuse(refusal)
  if tonumber(arg(1)) > 0 and arg(4) ~= '' then
    redis.call('RPUSH', arg(4), '')
    redis.call('PEXPIRE', arg(4), HANDOFF_TTL_TEXT)
  end
  return redis.error_reply(refusal)
end

-- {target, claims}: the next claims asked for by the first THEN_ARGS arguments.
local function then_claim(target)
  local limit = tonumber(arg(1))
  if limit == 0 then return {target, {}} end
  return {target, claim_or_wait(arg(2), arg(3), limit, target, arg(4), tonumber(arg(5)))}
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
