DROP INDEX runs_waiting_approval;
DROP INDEX events_approvals;
UPDATE runs SET status = 'paused' WHERE status = 'waiting_approval';
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'paused'));
