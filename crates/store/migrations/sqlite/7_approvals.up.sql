-- no-transaction
-- Runs may wait for an approval (`waiting_approval`). SQLite cannot change a CHECK constraint in
-- place, so `runs` is rebuilt (https://sqlite.org/lang_altertable.html#otheralter): foreign keys
-- off outside the transaction, a new table with the new CHECK, the rows copied, the old table
-- dropped, the new one renamed (children's `REFERENCES runs` then name it), its indexes and the
-- view over it recreated.
PRAGMA foreign_keys = OFF;
BEGIN;
DROP VIEW agent_summaries;
CREATE TABLE runs_new (
    id         TEXT PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    status     TEXT NOT NULL
        CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled', 'paused', 'waiting_approval')),
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
    settled_step INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO runs_new (
    id, agent_id, status, epoch, node_id, input, error, created_ms, updated_ms, wait_reason, last_commit_id,
    used_tokens, used_cost_usd, reserved_tokens, reserved_cost_usd, settled_step
)
SELECT
    id, agent_id, status, epoch, node_id, input, error, created_ms, updated_ms, wait_reason, last_commit_id,
    used_tokens, used_cost_usd, reserved_tokens, reserved_cost_usd, settled_step
FROM runs;
DROP TABLE runs;
ALTER TABLE runs_new RENAME TO runs;
CREATE INDEX runs_agent_id_id ON runs (agent_id, id);
CREATE INDEX runs_status ON runs (status);
CREATE INDEX runs_node_id_status ON runs (node_id, status);
CREATE INDEX runs_unplaced_queued ON runs (id) WHERE status = 'queued' AND node_id IS NULL;
-- The hub's expiry scan reads the runs that wait for an approval.
CREATE INDEX runs_waiting_approval ON runs (id) WHERE status = 'waiting_approval';
-- Each agent with its latest run (highest id), NULL run columns when it has none.
CREATE VIEW agent_summaries AS
SELECT
    agents.id, agents.spec, agents.labels, agents.parent_id, agents.created_ms, agents.last_seq, agents.budget_id,
    runs.id AS run_id, runs.status AS run_status, runs.epoch AS run_epoch,
    runs.node_id AS run_node_id, runs.input AS run_input, runs.error AS run_error,
    runs.created_ms AS run_created_ms, runs.updated_ms AS run_updated_ms,
    runs.wait_reason AS run_wait_reason
FROM agents
LEFT JOIN runs ON runs.id = (SELECT MAX(latest.id) FROM runs AS latest WHERE latest.agent_id = agents.id);
-- Approvals (`agentry approvals`) are read from their trace events by time.
CREATE INDEX events_approvals ON events (ts_ms) WHERE kind IN ('approval_requested', 'approval_decided');
COMMIT;
PRAGMA foreign_keys = ON;
