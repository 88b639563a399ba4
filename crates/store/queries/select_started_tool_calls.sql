-- $1 agent id, $2 run id: data of the run's `tool_start` events, in order.
SELECT data FROM events WHERE agent_id = $1 AND run_id = $2 AND kind = 'tool_start' ORDER BY seq
