-- $1 agent id, $2 after seq, $3 run id or NULL for all runs, $4 limit.
SELECT * FROM events
WHERE agent_id = $1 AND seq > $2 AND ($3 IS NULL OR run_id = $3)
ORDER BY seq
LIMIT $4
