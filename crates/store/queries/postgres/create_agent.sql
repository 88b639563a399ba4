-- An agent and, when $7 is not NULL, its first run (`queued`, unplaced) in one statement
-- (PostgreSQL): `insert_agent.sql` and `insert_run.sql` as CTEs.
-- $1 id, $2 spec, $3 labels, $4 parent_id, $5 idempotency_key, $6 now, $14 tenant, $7 run id or NULL,
-- $8 run input, $13 run traceparent or NULL, $9 budget id or NULL; when $10 (a budget is created with the agent), its
-- limits $11 max tokens and $12 max USD (NULL: unlimited). Returns the agent with its run in the columns of `agent_summaries` (run
-- columns NULL without one), or no row when the idempotency key is taken (nothing written).
WITH budget AS (
    INSERT INTO budgets (id, max_tokens, max_cost_usd, used_tokens, used_cost_usd, reserved_tokens,
        reserved_cost_usd, created_ms)
    SELECT $9, $11, $12, 0, 0, 0, 0, $6 WHERE $10::bool
), agent AS (
    INSERT INTO agents (id, spec, labels, parent_id, idempotency_key, created_ms, last_seq, message_count, budget_id,
        tenant)
    VALUES ($1, $2, $3, $4, $5, $6, 0, 0, $9, $14)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
), run AS (
    INSERT INTO runs (id, agent_id, status, epoch, node_id, input, error, created_ms, updated_ms, traceparent)
    SELECT $7, agent.id, 'queued', 0, NULL, $8, NULL, $6, $6, $13 FROM agent WHERE $7::text IS NOT NULL
    RETURNING *
)
SELECT agent.id, agent.spec, agent.labels, agent.parent_id, agent.created_ms, agent.last_seq, agent.budget_id,
    agent.tenant,
    run.id AS run_id, run.status AS run_status, run.epoch AS run_epoch, run.node_id AS run_node_id,
    run.input AS run_input, run.error AS run_error, run.created_ms AS run_created_ms,
    run.updated_ms AS run_updated_ms, run.wait_reason AS run_wait_reason,
    run.traceparent AS run_traceparent
FROM agent LEFT JOIN run ON TRUE
