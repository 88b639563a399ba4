-- $1 agent id, $2 index, $3 run id, $4 role, $5 content, $6 tool calls (JSON text), $7 tool
-- call id or NULL, $8 seq: the agent's trace seq at the commit that appends it (its last event's).
INSERT INTO messages (agent_id, idx, run_id, role, content, tool_calls, tool_call_id, seq)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
