-- Compare-and-set: $1 run id, $2 expected epoch, $3 node id, $4 now.
-- Returns no row when the run is missing, its epoch moved or it is not queued.
UPDATE runs SET node_id = $3, epoch = epoch + 1, updated_ms = $4, wait_reason = NULL
WHERE id = $1 AND epoch = $2 AND status = 'queued'
RETURNING *
