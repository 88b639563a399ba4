-- A group of Spawns in one statement (PostgreSQL group commit): `create_agent.sql` for each
-- agent i of the arrays $1 ids, $2 specs, $3 labels, $4 parent ids, $5 idempotency keys,
-- $7 first-run ids (NULL elements: no run), $8 first-run inputs, $9 budget ids (NULL
-- elements: none), $10 whether the agent's budget is created with it, $11 its max tokens and
-- $12 its max USD (NULL elements: unlimited), $13 first-run traceparents (NULL elements: none),
-- $14 tenants;
-- $6 now. An agent whose
-- idempotency key is taken (also by an earlier agent of the same group) is not inserted and
-- returns no row. Returns the inserted agents with their runs in the columns of
-- `agent_summaries`.
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $7::text[], $8::text[],
        $9::text[], $10::bool[], $11::bigint[], $12::float8[], $13::text[], $14::text[])
        AS input (id, spec, labels, parent_id, idempotency_key, run_id, run_input, budget_id, creates_budget,
            max_tokens, max_cost_usd, run_traceparent, tenant)
), budget AS (
    INSERT INTO budgets (id, max_tokens, max_cost_usd, used_tokens, used_cost_usd, reserved_tokens,
        reserved_cost_usd, created_ms)
    SELECT budget_id, max_tokens, max_cost_usd, 0, 0, 0, 0, $6 FROM input WHERE creates_budget
), agent AS (
    INSERT INTO agents (id, spec, labels, parent_id, idempotency_key, created_ms, last_seq, message_count, budget_id,
        tenant)
    SELECT id, spec, labels, parent_id, idempotency_key, $6, 0, 0, budget_id, tenant FROM input
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
), run AS (
    INSERT INTO runs (id, agent_id, status, epoch, node_id, input, error, created_ms, updated_ms, traceparent)
    SELECT input.run_id, agent.id, 'queued', 0, NULL, input.run_input, NULL, $6, $6, input.run_traceparent
    FROM agent JOIN input ON input.id = agent.id
    WHERE input.run_id IS NOT NULL
    RETURNING *
)
SELECT agent.id, agent.spec, agent.labels, agent.parent_id, agent.created_ms, agent.last_seq, agent.budget_id,
    agent.tenant,
    run.id AS run_id, run.status AS run_status, run.epoch AS run_epoch, run.node_id AS run_node_id,
    run.input AS run_input, run.error AS run_error, run.created_ms AS run_created_ms,
    run.updated_ms AS run_updated_ms, run.wait_reason AS run_wait_reason,
    run.traceparent AS run_traceparent
FROM agent LEFT JOIN run ON run.agent_id = agent.id
