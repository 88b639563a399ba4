-- Budgets the cluster enforces (agentry_core::budget): limits, settled usage and the
-- reservations of calls in flight. An agent draws from at most one budget (its own or its
-- parent's); a run holds at most one reservation (its next model call) and counts what it
-- settled, once per model call (`settled_step`).
CREATE TABLE budgets (
    id TEXT PRIMARY KEY,
    max_tokens INTEGER,
    max_cost_usd REAL,
    used_tokens INTEGER NOT NULL DEFAULT 0,
    used_cost_usd REAL NOT NULL DEFAULT 0,
    reserved_tokens INTEGER NOT NULL DEFAULT 0,
    reserved_cost_usd REAL NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL
) STRICT;
ALTER TABLE agents ADD COLUMN budget_id TEXT REFERENCES budgets (id);
ALTER TABLE runs ADD COLUMN used_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN used_cost_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN reserved_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN reserved_cost_usd REAL NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN settled_step INTEGER NOT NULL DEFAULT 0;

DROP VIEW agent_summaries;
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
