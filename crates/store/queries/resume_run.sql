-- $1 run id, $2 now. Queues a paused run again, unplaced. Returns no row when the run is
-- missing or not paused.
UPDATE runs SET status = 'queued', node_id = NULL, wait_reason = NULL, updated_ms = $2
WHERE id = $1 AND status = 'paused'
RETURNING *
