-- $1 id, $2 max tokens (NULL: unlimited), $3 max USD (NULL: unlimited), $4 now.
INSERT INTO budgets (id, max_tokens, max_cost_usd, used_tokens, used_cost_usd, reserved_tokens, reserved_cost_usd,
    created_ms)
VALUES ($1, $2, $3, 0, 0, 0, 0, $4)
RETURNING *
