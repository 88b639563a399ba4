-- $1 run id, $2 now. Queues a run that waits for its sub-agents again, unplaced, if none of
-- them has a run that has not ended. Returns no row when the run is missing, not waiting, or
-- still has a sub-agent at work. Run in a statement of its own after the run's row is locked
-- (`postgres/lock_delegating_run.sql`), so that it sees every sibling that ended before.
UPDATE runs SET status = 'queued', node_id = NULL, wait_reason = NULL, updated_ms = $2
WHERE id = $1 AND status = 'waiting_children'
  AND NOT EXISTS (
      SELECT 1 FROM delegations
      JOIN runs AS child ON child.id = delegations.child_run_id
      WHERE delegations.parent_run_id = $1 AND child.status NOT IN ('completed', 'failed', 'cancelled')
  )
RETURNING *
