-- The conversation of agent $1 as a fork needs it to find its point (`sql/fork.rs`): every
-- message's position, run, role, tool calls and seq, in order; the content stays in the
-- database (`copy_fork_messages.sql` copies it there).
SELECT idx, run_id, role, '' AS content, tool_calls, tool_call_id, seq
FROM messages WHERE agent_id = $1 ORDER BY idx
