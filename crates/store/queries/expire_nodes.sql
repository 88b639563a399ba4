-- $1 cut-off: nodes present whose last heartbeat is older become dead; returns them.
UPDATE nodes SET state = 'dead'
WHERE state NOT IN ('dead', 'left') AND last_heartbeat_ms < $1
RETURNING *
