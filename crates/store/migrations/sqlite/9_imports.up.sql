-- Imported traces (`agentry trace import`): an agent loaded from a trace file is read-only, its
-- runs all ended; `imported_from` names the file it came from (NULL: a live agent). The view
-- carries it so that `GetAgent` and `ListAgents` show it.
ALTER TABLE agents ADD COLUMN imported_from TEXT;

DROP VIEW agent_summaries;
-- Each agent with its latest run (highest id), NULL run columns when it has none.
CREATE VIEW agent_summaries AS
SELECT
    agents.id, agents.spec, agents.labels, agents.parent_id, agents.created_ms, agents.last_seq, agents.budget_id,
    agents.imported_from,
    runs.id AS run_id, runs.status AS run_status, runs.epoch AS run_epoch,
    runs.node_id AS run_node_id, runs.input AS run_input, runs.error AS run_error,
    runs.created_ms AS run_created_ms, runs.updated_ms AS run_updated_ms,
    runs.wait_reason AS run_wait_reason
FROM agents
LEFT JOIN runs ON runs.id = (SELECT MAX(latest.id) FROM runs AS latest WHERE latest.agent_id = agents.id);
