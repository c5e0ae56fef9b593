-- read_events: the next unread events of an agent's subscriptions, in publish order, each
-- handed out once (SPEC EVT-003, EVT-004).  Expired events are passed over.
-- arg(1) agent, arg(2) limit.  Returns {id, type, publisher, payload, published_at,
-- expires_at or ''} per event.
local agent, limit = arg(1), tonumber(arg(2))
local cursors = redis.call('HGETALL', K.subscriptions(agent))
local found = {}
for i = 1, #cursors, 2 do
  local kind, after = cursors[i], cursors[i + 1]
  local entries = redis.call('XRANGE', K.stream(kind), '(' .. after .. '-0', '+', 'COUNT', limit)
  for _, entry in ipairs(entries) do
    local e = {id = tonumber(string.match(entry[1], '^(%d+)')), type = kind}
    for j = 1, #entry[2], 2 do e[entry[2][j]] = entry[2][j + 1] end
    found[#found + 1] = e
  end
end
table.sort(found, function(a, b) return a.id < b.id end)
local out, moved = {}, {}
for _, e in ipairs(found) do
  if #out >= limit then break end
  moved[e.type] = e.id
  if not (e.expires_at and tonumber(e.expires_at) <= NOW) then
    out[#out + 1] = {tostring(e.id), e.type, e.publisher, e.payload, e.published_at,
                     e.expires_at or ''}
  end
end
for kind, last in pairs(moved) do
  redis.call('HSET', K.subscriptions(agent), kind, last)
  audit('s:' .. agent .. ':' .. kind)
end
return out
