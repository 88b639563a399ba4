-- What tenant $1 holds: its agents, and its runs that have not ended (those `run_counts.sql`
-- counts). Served by agents (tenant, id) and runs (status).
SELECT
    (SELECT COUNT(*) FROM agents WHERE agents.tenant = $1) AS agents,
    (
        SELECT COUNT(*) FROM runs JOIN agents ON agents.id = runs.agent_id
        WHERE agents.tenant = $1
          AND runs.status IN ('queued', 'running', 'paused', 'waiting_approval', 'waiting_children')
    ) AS active_runs
