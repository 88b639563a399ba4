-- $1 delegating run id, $2 tool call id, $3 position among the call's sub-agents, $4 role,
-- $5 sub-agent id, $6 the sub-agent's first run id.
INSERT INTO delegations (parent_run_id, tool_call_id, position, role, child_agent_id, child_run_id)
VALUES ($1, $2, CAST($3 AS INTEGER), $4, $5, $6)
