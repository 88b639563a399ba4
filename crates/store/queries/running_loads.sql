-- Runs each node is executing (status running): each holds one delivery its node has not acked.
SELECT node_id, COUNT(*) AS load FROM runs
WHERE node_id IS NOT NULL AND status = 'running'
GROUP BY node_id
