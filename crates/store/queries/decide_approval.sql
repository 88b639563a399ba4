-- $1 run id, $2 now. Queues a run that waited for an approval again, unplaced (its node let go
-- of it when it parked). Returns no row when the run is missing or not waiting.
UPDATE runs SET status = 'queued', node_id = NULL, wait_reason = NULL, updated_ms = $2
WHERE id = $1 AND status = 'waiting_approval'
RETURNING *
