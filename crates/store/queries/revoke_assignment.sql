-- $1 run id, $2 epoch, $3 now. Takes a run back from the node it was assigned to but that has not
-- started it: it becomes unplaced and its epoch is bumped, so the task published for the old
-- epoch (should it still arrive) is refused. Returns no row when the run moved on (a no-op): its
-- node started it, it was reassigned, paused or cancelled.
UPDATE runs SET node_id = NULL, epoch = epoch + 1, wait_reason = NULL, updated_ms = $3
WHERE id = $1 AND epoch = $2 AND status = 'queued' AND node_id IS NOT NULL
RETURNING *
