-- no-transaction
-- Teams and forks (issue 14). Runs may wait for sub-agents (`waiting_children`): SQLite cannot
-- change a CHECK constraint in place, so `runs` is rebuilt as in 7_approvals (foreign keys off
-- outside the transaction, new table, rows copied, old dropped, new renamed, indexes and the
-- view recreated). Each sub-agent is a row of `delegations`; a fork names the agent and seq it
-- branched from; each message keeps the seq of the commit that appended it (NULL before).
PRAGMA foreign_keys = OFF;
BEGIN;
DROP VIEW agent_summaries;
CREATE TABLE runs_new (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    status     TEXT NOT NULL
        CHECK (status IN (
            'queued', 'running', 'completed', 'failed', 'cancelled', 'paused', 'waiting_approval', 'waiting_children'
        )),
    epoch      INTEGER NOT NULL,
    node_id    TEXT,
    input      TEXT NOT NULL,
    error      TEXT,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    wait_reason TEXT,
    last_commit_id TEXT,
    used_tokens INTEGER NOT NULL DEFAULT 0,
    used_cost_usd REAL NOT NULL DEFAULT 0,
    reserved_tokens INTEGER NOT NULL DEFAULT 0,
    reserved_cost_usd REAL NOT NULL DEFAULT 0,
    settled_step INTEGER NOT NULL DEFAULT 0,
    traceparent TEXT
) STRICT;
INSERT INTO runs_new (
    id, agent_id, status, epoch, node_id, input, error, created_ms, updated_ms, wait_reason, last_commit_id,
    used_tokens, used_cost_usd, reserved_tokens, reserved_cost_usd, settled_step, traceparent
)
SELECT
    id, agent_id, status, epoch, node_id, input, error, created_ms, updated_ms, wait_reason, last_commit_id,
    used_tokens, used_cost_usd, reserved_tokens, reserved_cost_usd, settled_step, traceparent
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_agent_id_id ON runs (agent_id, id);
CREATE INDEX runs_status ON runs (status);
CREATE INDEX runs_node_id_status ON runs (node_id, status);
CREATE INDEX runs_unplaced_queued ON runs (id) WHERE status = 'queued' AND node_id IS NULL;
CREATE INDEX runs_waiting_approval ON runs (id) WHERE status = 'waiting_approval';
CREATE INDEX runs_waiting_children ON runs (id) WHERE status = 'waiting_children';
CREATE TABLE delegations (
    parent_run_id  TEXT NOT NULL REFERENCES runs (id),
    tool_call_id   TEXT NOT NULL,
    position       INTEGER NOT NULL,
    role           TEXT NOT NULL,
    child_agent_id TEXT NOT NULL REFERENCES agents (id),
    child_run_id   TEXT NOT NULL REFERENCES runs (id),
    PRIMARY KEY (parent_run_id, tool_call_id, position)
) STRICT;
CREATE INDEX delegations_child_run_id ON delegations (child_run_id);
ALTER TABLE agents ADD COLUMN forked_from TEXT;
ALTER TABLE agents ADD COLUMN forked_at_seq INTEGER;
ALTER TABLE messages ADD COLUMN seq INTEGER;
CREATE INDEX agents_parent_id ON agents (parent_id) WHERE parent_id IS NOT NULL;
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
COMMIT;
PRAGMA foreign_keys = ON;
