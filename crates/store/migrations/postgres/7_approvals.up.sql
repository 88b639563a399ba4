-- Runs may wait for an approval (`waiting_approval`). Approvals (`agentry approvals`) are read
-- from their trace events by time; the hub's expiry scan reads the runs that wait for one.
-- Partial indexes stay as small as those rows.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'paused', 'waiting_approval'));
CREATE INDEX events_approvals ON events (ts_ms) WHERE kind IN ('approval_requested', 'approval_decided');
CREATE INDEX runs_waiting_approval ON runs (id) WHERE status = 'waiting_approval';
