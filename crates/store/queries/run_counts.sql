-- Runs that have not ended, by status and by whether a node holds them (`placed` 0 or 1), for
-- the hub's gauges (`agentry_runs`, `agentry_runs_unplaced`); served by the `runs_status` index.
SELECT status, CAST(CASE WHEN node_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS placed, COUNT(*) AS count
FROM runs
WHERE status IN ('queued', 'running', 'paused', 'waiting_approval', 'waiting_children')
GROUP BY status, placed
