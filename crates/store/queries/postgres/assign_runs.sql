-- A batch of compare-and-set assignments in one statement (PostgreSQL): `assign_run.sql` for
-- each (run id $1[i], expected epoch $2[i], node id $3[i]); $4 now. Returns the runs assigned;
-- a run missing, at another epoch or no longer queued is left as it is and not returned.
UPDATE runs SET node_id = batch.node_id, epoch = runs.epoch + 1, updated_ms = $4, wait_reason = NULL
FROM unnest($1::text[], $2::bigint[], $3::text[]) AS batch (id, epoch, node_id)
WHERE runs.id = batch.id AND runs.epoch = batch.epoch AND runs.status = 'queued'
RETURNING runs.*
