-- Copies the first $5 messages of agent $4 to the fork $1 (`sql/fork.rs`), inside the
-- database. Messages of run $2 (the run the fork continues; NULL: none) move to the fork's run
-- $3; the others keep their run. Each copy gets seq $6 (the fork's `forked_from` event, the
-- commit that wrote it).
INSERT INTO messages (agent_id, idx, run_id, role, content, tool_calls, tool_call_id, seq)
SELECT $1, idx, CASE WHEN run_id = $2 THEN $3 ELSE run_id END, role, content, tool_calls, tool_call_id, $6
FROM messages WHERE agent_id = $4 AND idx < $5
