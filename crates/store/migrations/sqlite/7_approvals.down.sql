-- Runs waiting for an approval keep their rows; the old CHECK would reject them, so the down
-- migration only drops the approval indexes and leaves the wider CHECK in place.
DROP INDEX runs_waiting_approval;
DROP INDEX events_approvals;
