ALTER TABLE events DROP COLUMN traceparent;
ALTER TABLE runs DROP COLUMN traceparent;
