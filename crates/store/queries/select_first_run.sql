SELECT * FROM runs WHERE agent_id = $1 ORDER BY id LIMIT 1
