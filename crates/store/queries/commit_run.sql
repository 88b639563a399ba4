-- First statement of a commit: $1 run id, $2 epoch, $3 new status or NULL, $4 error or NULL,
-- $5 now, $6 commit id or NULL. The UPDATE takes the run's row lock (as SELECT ... FOR UPDATE
-- would) and checks the fence under it, so a concurrent reassignment either happened before (no
-- row: stale) or waits until this commit ends. Returns no row when the run is missing, stale or
-- terminal, or when commit $6 is the one applied last (a retry). A run that starts waiting for
-- its sub-agents (`waiting_children`) leaves its node: it is queued again, unplaced, when they end.
UPDATE runs SET status = COALESCE($3, status), error = COALESCE($4, error), updated_ms = $5, last_commit_id = $6,
    node_id = CASE WHEN $3 = 'waiting_children' THEN NULL ELSE node_id END
WHERE id = $1 AND epoch = $2 AND status NOT IN ('completed', 'failed', 'cancelled')
  AND (last_commit_id IS NULL OR $6 IS NULL OR last_commit_id <> $6)
RETURNING *
