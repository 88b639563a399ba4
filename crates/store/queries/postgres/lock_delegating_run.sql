-- $1 run id: the run that delegated to it (no row when it was not started by a delegation),
-- locked until the transaction ends: sub-agents ending concurrently check whether they were
-- the last one by turns, each in a statement that starts after the previous one's commit and
-- so sees its sibling's ending (`wake_parent_run.sql`).
SELECT runs.* FROM delegations
JOIN runs ON runs.id = delegations.parent_run_id
WHERE delegations.child_run_id = $1
FOR UPDATE OF runs
