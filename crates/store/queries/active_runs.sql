-- $1 agent id: its runs that have not ended, oldest first.
SELECT * FROM runs WHERE agent_id = $1 AND status NOT IN ('completed', 'failed', 'cancelled') ORDER BY id
