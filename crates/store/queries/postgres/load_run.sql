-- The run at epoch $2 with its agent, the ids of its started tool calls, its approval decisions
-- and the agent's latest conversation summary, in one statement
-- (PostgreSQL); the conversation is read by `select_messages.sql`. $1 run id.
-- Returns no row when the run is missing; the caller checks the epoch.
SELECT runs.*, agents.spec AS agent_spec, agents.labels AS agent_labels,
    agents.parent_id AS agent_parent_id, agents.created_ms AS agent_created_ms,
    agents.last_seq AS agent_last_seq, agents.budget_id AS agent_budget_id, agents.tenant AS agent_tenant,
    ARRAY(
        SELECT events.data FROM events
        WHERE events.agent_id = runs.agent_id AND events.run_id = runs.id AND events.kind = 'tool_start'
        ORDER BY events.seq
    ) AS started_tool_calls,
    ARRAY(
        SELECT events.data FROM events
        WHERE events.agent_id = runs.agent_id AND events.run_id = runs.id AND events.kind = 'approval_decided'
        ORDER BY events.seq
    ) AS approval_decisions,
    (
        SELECT events.data FROM events
        WHERE events.agent_id = runs.agent_id AND events.kind = 'summary'
        ORDER BY events.seq DESC LIMIT 1
    ) AS latest_summary
FROM runs JOIN agents ON agents.id = runs.agent_id
WHERE runs.id = $1
