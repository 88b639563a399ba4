DROP INDEX runs_unplaced_queued;
