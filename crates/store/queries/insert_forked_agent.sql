-- A fork (`sql/fork.rs`): $1 id, $2 spec, $3 labels, $4 parent_id, $5 created_ms, $6 message
-- count, $7 budget_id, $8 the agent it was forked from, $9 the seq it branches at, $10 tenant
-- (the source's). Its trace
-- starts with one event (`forked_from`, seq 1), written in the same transaction.
INSERT INTO agents (id, spec, labels, parent_id, idempotency_key, created_ms, last_seq, message_count, budget_id,
    forked_from, forked_at_seq, tenant)
VALUES ($1, $2, $3, $4, NULL, $5, 1, $6, $7, $8, $9, $10)
RETURNING *
