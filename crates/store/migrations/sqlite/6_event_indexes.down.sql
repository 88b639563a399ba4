DROP INDEX events_summary;
DROP INDEX events_usage_ts;
