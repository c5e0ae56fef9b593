-- complete: finish claimed messages, all or none (SPEC LEASE-001, LEASE-008), and lease
-- the next ones of their target in the same step when asked (CLAIM-009).
-- arg(1..5) the next claim (common.lua THEN_ARGS), arg(6) how many, then id and token
-- for each.  Returns {how many, {target, next claims}}.
local n = tonumber(arg(THEN_ARGS + 1))
local held, refusal = all_leased(n, THEN_ARGS + 2)
if not held then return refuse(refusal) end
refusal = then_refusal(held)
if refusal then return refuse(refusal) end
finish_all(held, 'completed')
return done({n, then_claim(held[1].to_agent)})
