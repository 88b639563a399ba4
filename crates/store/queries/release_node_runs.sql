-- $1 node id, $2 1 to take running runs too (0: only runs placed but not started), $3 now.
-- Takes back runs from a node: they become queued and unplaced, and their epoch is bumped so
-- the node is fenced (a task already published for the old epoch is refused, and so is any
-- commit of the old node).
UPDATE runs SET node_id = NULL, status = 'queued', epoch = epoch + 1, wait_reason = NULL, updated_ms = $3
WHERE node_id = $1 AND (status = 'queued' OR ($2 = 1 AND status = 'running'))
RETURNING *
