-- purge_dead: delete dead letters (SPEC DLQ-003).  arg(1) '1' for all of them, else the
-- ids follow from arg(2).  Returns how many were deleted.
local operator_only = maintainer_refusal('purge dead letters')
if operator_only then return redis.error_reply(operator_only) end
local ids = {}
if arg(1) == '1' then
  ids = redis.call('LRANGE', K.dead(), 0, -1)
else
  for i = 2, #ARGV - HEADER_ARGS do ids[#ids + 1] = arg(i) end
end
local purged = 0
for _, id in ipairs(ids) do
  local m = load(id)
  if m and m.status == 'dead' then
    depth(m.to_agent, 'dead', -1)
    redis.call('LREM', K.dead(), 1, id)
    if m.response_id then  -- the hub's answer to a request that died (REQ-007)
      redis.call('DEL', K.reply(m.response_id), K.response(m.from_agent, id))
    end
    redis.call('DEL', K.message(id))
    audit('m:' .. id)
    purged = purged + 1
  end
end
return done(purged)
