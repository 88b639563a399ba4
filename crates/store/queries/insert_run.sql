-- $1 id, $2 agent_id, $3 input, $4 now, $5 traceparent or NULL. Returns no row when the agent
-- does not exist.
INSERT INTO runs (id, agent_id, status, epoch, node_id, input, error, created_ms, updated_ms, traceparent)
SELECT $1, $2, 'queued', 0, NULL, $3, NULL, $4, $4, $5
WHERE EXISTS (SELECT 1 FROM agents WHERE id = $2)
RETURNING *
