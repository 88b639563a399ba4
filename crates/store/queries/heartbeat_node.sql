-- $1 id, $2 running, $3 now. Returns no row for an unknown node.
UPDATE nodes SET running = $2, last_heartbeat_ms = $3 WHERE id = $1 RETURNING *
