-- stats: queue depths per target and status, and lifetime counters (SPEC PRIO-003,
-- PRIO-004), read in one step.  Only reads.  Depths are derived from the structures that
-- hold the messages: pending from the pending lists and the delayed set, processing from
-- the processing set, completed and expired from the finished set, dead and expired
-- from the counts kept when they happen; lifetime 'completed' is the finished sets plus
-- what prune removed, 'sent' and 'published' the id sequences.
-- Returns {flat depths: target, key, count, ...; flat counters: name, count, ...}.
local depths, completed = {}, 0
local function put(target, key, n)
  if n > 0 then
    depths[#depths + 1] = target
    depths[#depths + 1] = key
    depths[#depths + 1] = n
  end
end
for _, target in ipairs(redis.call('SMEMBERS', K.targets())) do
  local pending = {0, 0, 0}
  for level = 0, 2 do
    pending[level + 1] = redis.call('LLEN', K.pending(target, level))
  end
  for _, id in ipairs(redis.call('ZRANGE', K.delayed(target), 0, -1)) do
    local level = tonumber(redis.call('HGET', K.message(id), 'priority') or '1')
    pending[level + 1] = pending[level + 1] + 1
  end
  local kept = redis.call('HMGET', K.depths(), target .. ':dead', target .. ':expired')
  local dead, expired = tonumber(kept[1] or '0'), tonumber(kept[2] or '0')
  put(target, 'pending', pending[1] + pending[2] + pending[3])
  for level = 0, 2 do put(target, 'pending_' .. LEVEL[tostring(level)], pending[level + 1]) end
  put(target, 'processing', redis.call('ZCARD', K.processing(target)))
  local done = redis.call('ZCARD', K.finished(target)) - expired
  completed = completed + done
  put(target, 'completed', done)
  put(target, 'expired', expired)
  put(target, 'dead', dead)
end
local counters = redis.call('HGETALL', K.counters())
for i = 1, #counters, 2 do  -- completions are the finished sets plus what prune removed
  if counters[i] == 'pruned_completed' then completed = completed + tonumber(counters[i + 1]) end
end
counters[#counters + 1] = 'completed'
counters[#counters + 1] = completed
counters[#counters + 1] = 'sent'
counters[#counters + 1] = redis.call('GET', K.seq_message()) or '0'
counters[#counters + 1] = 'published'
counters[#counters + 1] = redis.call('GET', K.seq_event()) or '0'
return {depths, counters}
