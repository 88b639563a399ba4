-- $1 run id: the sub-agents it delegated to, ordered by tool call id then position, each with
-- its first run's input, status and error, and the content of that run's last assistant
-- message (its answer once completed).
SELECT delegations.tool_call_id, CAST(delegations.position AS BIGINT) AS position, delegations.role,
    delegations.child_agent_id, delegations.child_run_id,
    child.input, child.status, child.error,
    (
        SELECT messages.content FROM messages
        WHERE messages.agent_id = delegations.child_agent_id AND messages.run_id = delegations.child_run_id
          AND messages.role = 'assistant'
        ORDER BY messages.idx DESC LIMIT 1
    ) AS answer
FROM delegations
JOIN runs AS child ON child.id = delegations.child_run_id
WHERE delegations.parent_run_id = $1
ORDER BY delegations.tool_call_id, delegations.position
