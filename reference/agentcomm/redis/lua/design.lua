-- The design's own items in agentcomm's lists (SPEC COMPAT-011), after common.lua.
--
-- The design's scripts LPUSH a JSON envelope, {"id", "from", "type", "payload" or "data",
-- "timestamp"}, onto an inbox or a tasks:<priority> list, and {"original", "reason",
-- "failed_at"} onto dead_letter_queue.  agentcomm lists hold message ids instead, so an
-- item that names no message is the design's: it is adopted as a message of that list's
-- target and level (a claim leases it at once), or as a dead letter found there.  What
-- cannot be read (not a JSON object) is kept as a dead letter of type `unreadable`, its
-- text the payload: it shows in stats and dead-letters, never silently dropped.

local UNKNOWN_SENDER = '@unknown'  -- an envelope without a well-formed "from"
local UNADDRESSED = 'unaddressed'  -- the target of a design dead letter: it names none
local DEFAULT_TYPE = 'task'  -- an envelope without a well-formed "type"

local function is_agent_id(v)
  if type(v) ~= 'string' or #v > 100 or string.sub(v, 1, 1) ~= '@' then return false end
  for segment in string.gmatch(string.sub(v, 2) .. '.', '([^.]*)%.') do
    if not string.find(segment, '^[A-Za-z0-9][A-Za-z0-9_%-]*$') then return false end
  end
  return true
end

local function matches(v, pattern, longest)
  return type(v) == 'string' and #v <= longest and string.find(v, pattern) ~= nil
end

-- The JSON object `text` holds, or nil and why not.
local function object(text)
  local ok, value = pcall(cjson.decode, text)
  if not ok then return nil, 'it is not JSON' end
  if type(value) ~= 'table' or value[1] ~= nil then return nil, 'it is not a JSON object' end
  return value
end

-- A message's fields from the design's envelope (a decoded object).
local function from_envelope(e)
  local payload = e.payload
  if payload == nil then payload = e.data end
  if payload == nil then payload = e end
  local id = e.id
  if type(id) == 'number' then id = tostring(id) end
  return {
    from = is_agent_id(e.from) and e.from or UNKNOWN_SENDER,
    type = matches(e.type, '^[A-Za-z0-9_][A-Za-z0-9_.%-]*$', 50) and e.type or DEFAULT_TYPE,
    payload = cjson.encode(payload),
    envelope_id = matches(id, '^[A-Za-z0-9_.@/+=%-]+$', 100) and id or nil,
  }
end

-- A new pending message of `target` at `level` with the fields `f`; returns it as load()
-- would.  It counts as sent (the id sequence), with the hub's default lease and retries.
local function new_message(target, level, f)
  local id = string.format('%d', redis.call('INCR', K.seq_message()))
  local fields = {'from_agent', f.from, 'to_agent', target, 'message_type', f.type,
    'payload', f.payload, 'status', 'pending', 'priority', level, 'created_at', NOW_TEXT,
    'timeout_seconds', DEFAULT_TIMEOUT, 'max_retries', DEFAULT_MAX_RETRIES}
  if f.envelope_id then  -- replies go out on the channel its sender listens to
    for _, v in ipairs({'correlation_id', f.envelope_id, 'envelope_id', f.envelope_id}) do
      fields[#fields + 1] = v
    end
  end
  create(id, fields)
  redis.call('SADD', K.targets(), target)
  return load(id)
end

local function unreadable(item)
  return {from = UNKNOWN_SENDER, type = 'unreadable', payload = cjson.encode(item)}
end

adopt = function(item, target, level)
  local e, why = object(item)
  if e then return new_message(target, level, from_envelope(e)).id end
  local m = new_message(target, level, unreadable(item))
  entomb(m, 'an item of ' .. K.pending(target, level) .. ' that agentcomm cannot adopt: ' ..
    why .. ' (the design sends a JSON object)')
  redis.call('RPUSH', K.dead(), m.id)
  return nil
end

-- The dead message made of a design dead letter (or any other item) found on the
-- dead-letter list, or of an item whose list is not known (`found`: where); returns its
-- id, which the caller puts on the dead-letter list.
local function adopt_dead(item, found)
  local e, why = object(item)
  local f, reason = unreadable(item), found .. ', which agentcomm cannot read: ' .. (why or '')
  if e then
    local original = e.original
    if type(original) == 'string' then original = object(original) end
    f = from_envelope(type(original) == 'table' and original or e)
    reason = type(e.reason) == 'string' and e.reason or found
  end
  local m = new_message(UNADDRESSED, 1, f)
  entomb(m, reason)
  return m.id
end
