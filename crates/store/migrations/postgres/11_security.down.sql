-- Drops the audit log (its triggers go with it) and the agents' tenants.
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only();

DROP VIEW agent_summaries;
DROP INDEX agents_tenant_id;
ALTER TABLE agents DROP COLUMN tenant;
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
