-- $1 node id, $2 now. Takes back the runs placed on a node that it has not started, bumping
-- their epoch so that a task already published for the old epoch is refused (fenced).
UPDATE runs SET node_id = NULL, epoch = epoch + 1, updated_ms = $2
WHERE node_id = $1 AND status = 'queued'
RETURNING *
