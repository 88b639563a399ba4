-- $1 budget id, $2 tokens to add, $3 USD to add. An unlimited dimension stays unlimited.
-- Returns no row when the budget is missing.
UPDATE budgets SET
    max_tokens = CASE WHEN max_tokens IS NULL THEN NULL ELSE max_tokens + $2 END,
    max_cost_usd = CASE WHEN max_cost_usd IS NULL THEN NULL ELSE max_cost_usd + $3 END
WHERE id = $1
RETURNING *
