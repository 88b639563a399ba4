-- $1 agent id, $2 run id: the run's approval requests and decisions, in seq order.
SELECT kind, data FROM events
WHERE agent_id = $1 AND run_id = $2 AND kind IN ('approval_requested', 'approval_decided')
ORDER BY seq
