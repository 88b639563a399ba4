-- $1 agent id: data of the agent's latest `summary` event, if any.
SELECT data FROM events WHERE agent_id = $1 AND kind = 'summary' ORDER BY seq DESC LIMIT 1
