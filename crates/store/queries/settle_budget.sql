-- $1 budget id, $2 tokens used, $3 USD used, $4 tokens released, $5 USD released: a call's real
-- usage replaces its reservation.
UPDATE budgets SET used_tokens = used_tokens + $2, used_cost_usd = used_cost_usd + $3,
    reserved_tokens = reserved_tokens - $4, reserved_cost_usd = reserved_cost_usd - $5
WHERE id = $1
