-- $1 run id, $2 epoch, $3 now. Returns no row when the run moved on (a no-op).
UPDATE runs SET node_id = NULL, updated_ms = $3
WHERE id = $1 AND epoch = $2 AND status = 'queued'
RETURNING *
