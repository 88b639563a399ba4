-- The user message a fork continues with (`sql/fork.rs`): $1 agent, $2 index, $3 the fork's
-- run, $4 content, $5 seq.
INSERT INTO messages (agent_id, idx, run_id, role, content, tool_calls, tool_call_id, seq)
VALUES ($1, $2, $3, 'user', $4, '[]', NULL, $5)
