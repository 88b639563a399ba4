-- Teams and forks (issue 14).
-- A run that delegated to sub-agents waits for them (`waiting_children`) holding no node; each
-- sub-agent is a row of `delegations` naming the delegating run and tool call, the sub-agent
-- and its first run. The parent run is queued again when the last of them ends.
ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN (
        'queued', 'running', 'completed', 'failed', 'cancelled', 'paused', 'waiting_approval', 'waiting_children'
    ));
CREATE INDEX runs_waiting_children ON runs (id) WHERE status = 'waiting_children';
CREATE TABLE delegations (
    parent_run_id  TEXT NOT NULL REFERENCES runs (id),
    tool_call_id   TEXT NOT NULL,
    position       INTEGER NOT NULL,
    role           TEXT NOT NULL,
    child_agent_id TEXT NOT NULL REFERENCES agents (id),
    child_run_id   TEXT NOT NULL REFERENCES runs (id),
    PRIMARY KEY (parent_run_id, tool_call_id, position)
);
CREATE INDEX delegations_child_run_id ON delegations (child_run_id);
-- A fork names the agent it was forked from and the seq of that agent's trace it branched at.
ALTER TABLE agents ADD COLUMN forked_from TEXT;
ALTER TABLE agents ADD COLUMN forked_at_seq BIGINT;
-- The seq of the trace at the commit that appended each message (NULL before issue 14): a fork
-- at a seq copies the messages committed up to it.
ALTER TABLE messages ADD COLUMN seq BIGINT;
CREATE INDEX agents_parent_id ON agents (parent_id) WHERE parent_id IS NOT NULL;

DROP VIEW agent_summaries;
-- Each agent with its latest run (highest id), NULL run columns when it has none.
CREATE VIEW agent_summaries AS
SELECT
    agents.id, agents.spec, agents.labels, agents.parent_id, agents.created_ms, agents.last_seq, agents.budget_id,
    agents.imported_from, agents.forked_from, agents.forked_at_seq,
    runs.id AS run_id, runs.status AS run_status, runs.epoch AS run_epoch,
    runs.node_id AS run_node_id, runs.input AS run_input, runs.error AS run_error,
    runs.created_ms AS run_created_ms, runs.updated_ms AS run_updated_ms,
    runs.wait_reason AS run_wait_reason
FROM agents
LEFT JOIN runs ON runs.id = (SELECT MAX(latest.id) FROM runs AS latest WHERE latest.agent_id = agents.id);
