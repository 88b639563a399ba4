-- $1 id, $2 name, $3 state, $4 slots, $5 running, $6 labels, $7 last_heartbeat_ms, $8 now.
-- Registering again (a retried join) updates the node but keeps its join time.
INSERT INTO nodes (id, name, state, slots, running, labels, last_heartbeat_ms, joined_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name,
    state = excluded.state,
    slots = excluded.slots,
    running = excluded.running,
    labels = excluded.labels,
    last_heartbeat_ms = excluded.last_heartbeat_ms
