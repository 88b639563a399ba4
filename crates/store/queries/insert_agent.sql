-- $1 id, $2 spec, $3 labels, $4 parent_id, $5 idempotency_key, $6 created_ms, $7 budget_id,
-- $8 tenant.
-- Returns no row when the idempotency key is taken (the caller then reads that agent).
INSERT INTO agents (id, spec, labels, parent_id, idempotency_key, created_ms, last_seq, message_count, budget_id,
    tenant)
VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $7, $8)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING *
