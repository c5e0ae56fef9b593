-- complete: finish claimed messages, all or none (SPEC LEASE-001, LEASE-008), and lease
-- the next ones of their target in the same step when asked (CLAIM-009).
-- arg(1..4) the next claim (common.lua THEN_ARGS), arg(5) how many, then id and token
-- for each.  Returns {how many, {target, next claims}}.
local n = tonumber(arg(THEN_ARGS + 1))
local held, refusal = all_leased(n, THEN_ARGS + 2)
if not held then return redis.error_reply(refusal) end
refusal = then_refusal(held)
if refusal then return redis.error_reply(refusal) end
for _, m in ipairs(held) do finish(m, 'completed') end
return done({n, then_claim(held[1].to_agent)})
