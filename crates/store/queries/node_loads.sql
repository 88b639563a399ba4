-- Runs each node holds: placed (queued with a node), running or paused.
SELECT node_id, COUNT(*) AS load FROM runs
WHERE node_id IS NOT NULL AND status IN ('queued', 'running', 'paused')
GROUP BY node_id
