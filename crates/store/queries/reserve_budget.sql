-- $1 budget id, $2 tokens and $3 USD the run releases (its stale reservation), $4 tokens and
-- $5 USD to reserve. Compare-and-set under the row's lock: returns no row (and changes
-- nothing) when the reservation does not fit, so concurrent runs never over-reserve.
UPDATE budgets SET reserved_tokens = reserved_tokens - $2 + $4, reserved_cost_usd = reserved_cost_usd - $3 + $5
WHERE id = $1
  AND (max_tokens IS NULL OR used_tokens + reserved_tokens - $2 + $4 <= max_tokens)
  AND (max_cost_usd IS NULL OR used_cost_usd + reserved_cost_usd - $3 + $5 <= max_cost_usd + 0.000000001)
RETURNING *
