-- $1 now. Queues again, unplaced, every run that waits for its sub-agents when none of them
-- has a run that has not ended (the reaper's safety net for endings that woke no parent).
-- Served by the partial index `runs_waiting_children`.
UPDATE runs SET status = 'queued', node_id = NULL, wait_reason = NULL, updated_ms = $1
WHERE status = 'waiting_children'
  AND NOT EXISTS (
      SELECT 1 FROM delegations
      JOIN runs AS child ON child.id = delegations.child_run_id
      WHERE delegations.parent_run_id = runs.id AND child.status NOT IN ('completed', 'failed', 'cancelled')
  )
RETURNING *
