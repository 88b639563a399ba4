-- $1 id, $2 state. Returns no row for an unknown node or one that is gone (dead or left).
UPDATE nodes SET state = $2 WHERE id = $1 AND state NOT IN ('dead', 'left') RETURNING *
