-- $1 run id, $2 wait reason shown while paused, $3 now. Stops a queued or running run: it
-- leaves its node (fenced by the epoch bump) and waits until resumed. Returns no row when the
-- run is missing or neither queued nor running.
UPDATE runs SET status = 'paused', node_id = NULL, epoch = epoch + 1, wait_reason = $2, updated_ms = $3
WHERE id = $1 AND status IN ('queued', 'running')
RETURNING *
