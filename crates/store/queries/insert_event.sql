INSERT INTO events (agent_id, seq, run_id, kind, data, ts_ms, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7)
