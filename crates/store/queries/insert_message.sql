INSERT INTO messages (agent_id, idx, run_id, role, content, tool_calls, tool_call_id)
VALUES ($1, $2, $3, $4, $5, $6, $7)
