-- complete: finish claimed messages, all or none (SPEC LEASE-001, LEASE-008).
-- arg(1) how many, then id and token for each.
local n, held = tonumber(arg(1)), {}
for i = 0, n - 1 do
  local m, refusal = leased(arg(2 + 2 * i), arg(3 + 2 * i))
  if not m then return redis.error_reply(refusal) end
  held[#held + 1] = m
end
for _, m in ipairs(held) do finish(m, 'completed') end
return done(n)
