ALTER TABLE runs DROP COLUMN last_commit_id;
