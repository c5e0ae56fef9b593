-- read_events: the next unread events of an agent's subscriptions, in publish order, each
-- handed out once (SPEC EVT-003, EVT-004, ORD-003).  Expired events are passed over.
-- arg(1) agent, arg(2) limit.  Returns {id, type, publisher, payload, published_at,
-- expires_at or ''} per event.
--
-- A k-way merge of the subscribed streams, read `limit` entries at a time: an entry is
-- taken only when no stream that filled its batch could still hold an older one, and a
-- stream leaves the merge only when it has nothing unread, so expired events neither use
-- up the limit nor let a later event of one type overtake an older event of another.
local agent, limit = arg(1), tonumber(arg(2))
local cursors = redis.call('HGETALL', K.subscriptions(agent))
local after, live = {}, {}  -- live: the types that may still hold unread entries
for i = 1, #cursors, 2 do
  after[cursors[i]] = cursors[i + 1]
  live[cursors[i]] = true
end

local function fetch(kind, found)
  local entries = redis.call('XRANGE', K.stream(kind), '(' .. after[kind] .. '-0', '+',
    'COUNT', limit)
  for _, entry in ipairs(entries) do
    local seq = string.match(entry[1], '^(%d+)')
    local e = {id = tonumber(seq), seq = seq, type = kind}
    for j = 1, #entry[2], 2 do e[entry[2][j]] = entry[2][j + 1] end
    found[#found + 1] = e
  end
  return #entries, #entries > 0 and found[#found].id or nil
end

local out, moved = {}, {}
while #out < limit and next(live) do
  local found, horizon = {}, math.huge
  for kind in pairs(live) do
    local n, last = fetch(kind, found)
    if n == 0 then
      live[kind] = nil
    elseif n == limit then  -- a full batch: the stream may hold more, older than others
      horizon = math.min(horizon, last)
    end
  end
  table.sort(found, function(a, b) return a.id < b.id end)
  for _, e in ipairs(found) do
    if #out >= limit or e.id > horizon then break end
    after[e.type], moved[e.type] = e.seq, e.seq
    if not (e.expires_at and tonumber(e.expires_at) <= NOW) then
      out[#out + 1] = {e.seq, e.type, e.publisher, e.payload, e.published_at,
                       e.expires_at or ''}
    end
  end
end
for kind, last in pairs(moved) do
  redis.call('HSET', K.subscriptions(agent), kind, last)
  audit('s:' .. agent .. ':' .. kind)
end
return out
