-- Durable execution: the id of the last commit applied to a run, so that a node retrying a
-- commit whose answer it lost is answered without the commit being written twice.
ALTER TABLE runs ADD COLUMN last_commit_id TEXT;
