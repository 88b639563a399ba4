-- The placer's candidates: unplaced queued runs, oldest first (`placeable_runs.sql`). A partial
-- index stays as small as the queue however many runs the table holds.
CREATE INDEX runs_unplaced_queued ON runs (id) WHERE status = 'queued' AND node_id IS NULL;
