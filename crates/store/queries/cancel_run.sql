-- $1 run id, $2 reason, $3 now. Ends a run that has not ended; bumps its epoch so that its
-- node is fenced. Returns no row when the run is missing or ended.
UPDATE runs SET status = 'cancelled', error = $2, epoch = epoch + 1, wait_reason = NULL, updated_ms = $3
WHERE id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')
RETURNING *
