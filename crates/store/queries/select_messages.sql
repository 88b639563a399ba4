SELECT * FROM messages WHERE agent_id = $1 ORDER BY idx
