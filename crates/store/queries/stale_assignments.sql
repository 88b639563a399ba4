-- $1 cutoff (ms), $2 limit. Runs assigned to a node (queued, node set) whose assignment is older
-- than the cutoff: a node commits `running` right after loading its task, so these are candidates
-- for a lost task (the hub died between the assignment and the publication). Oldest first.
-- Served by the index `runs_status`.
SELECT * FROM runs
WHERE status = 'queued' AND node_id IS NOT NULL AND updated_ms < $1
ORDER BY updated_ms, id
LIMIT $2
