-- $1 id, $2 state. Returns no row for an unknown node.
UPDATE nodes SET state = $2 WHERE id = $1 RETURNING *
