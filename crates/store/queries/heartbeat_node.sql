-- $1 id, $2 running, $3 now. Returns no row for an unknown node or one that is gone (dead or
-- left): its lease cannot be extended any more.
UPDATE nodes SET running = $2, last_heartbeat_ms = $3 WHERE id = $1 AND state NOT IN ('dead', 'left') RETURNING *
