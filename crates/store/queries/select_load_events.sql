-- $1 agent id, $2 run id: what `LoadRun` reads from the trace, in one query — the data of the
-- run's `tool_start` and `approval_decided` events and of the agent's `summary` events, in seq
-- order.
SELECT kind, data FROM events
WHERE agent_id = $1 AND ((run_id = $2 AND kind IN ('tool_start', 'approval_decided')) OR kind = 'summary')
ORDER BY seq
