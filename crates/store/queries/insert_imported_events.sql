-- The events of an imported trace (`sql/import.rs`), renumbered from 1. The caller appends one
-- row per event, `($1, $2, $3, $4, $5, $6)` numbered on: agent id, seq, run id, kind, data, ts_ms.
INSERT INTO events (agent_id, seq, run_id, kind, data, ts_ms) VALUES
