-- $1 run id: the run that delegated to it (no row when it was not started by a delegation).
-- SQLite's form; PostgreSQL's (`postgres/lock_delegating_run.sql`) also locks the row.
SELECT runs.* FROM delegations
JOIN runs ON runs.id = delegations.parent_run_id
WHERE delegations.child_run_id = $1
