-- $1 budget id, $2 tokens and $3 USD released by a run that stops reserving. Returns the budget.
UPDATE budgets SET reserved_tokens = reserved_tokens - $2, reserved_cost_usd = reserved_cost_usd - $3
WHERE id = $1
RETURNING *
