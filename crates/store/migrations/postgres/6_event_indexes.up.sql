-- `agentry cost` reads usage events by time (`queries/*/cost.sql`); `LoadRun` reads an agent's
-- latest summary (`select_latest_summary.sql`). Partial indexes stay as small as those events.
CREATE INDEX events_usage_ts ON events (ts_ms) WHERE kind = 'usage';
CREATE INDEX events_summary ON events (agent_id, seq) WHERE kind = 'summary';
