-- Security (issue 16): tenants and the audit log.
-- Every agent belongs to a tenant; agents stored before are the default tenant's. A tenant's
-- listing walks (tenant, id), newest first.
ALTER TABLE agents ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX agents_tenant_id ON agents (tenant, id);

DROP VIEW agent_summaries;
-- Each agent with its latest run (highest id), NULL run columns when it has none.
CREATE VIEW agent_summaries AS
SELECT
    agents.id, agents.spec, agents.labels, agents.parent_id, agents.created_ms, agents.last_seq, agents.budget_id,
    agents.imported_from, agents.forked_from, agents.forked_at_seq, agents.tenant,
    runs.id AS run_id, runs.status AS run_status, runs.epoch AS run_epoch,
    runs.node_id AS run_node_id, runs.input AS run_input, runs.error AS run_error,
    runs.created_ms AS run_created_ms, runs.updated_ms AS run_updated_ms,
    runs.wait_reason AS run_wait_reason
FROM agents
LEFT JOIN runs ON runs.id = (SELECT MAX(latest.id) FROM runs AS latest WHERE latest.agent_id = agents.id);

-- Who did what, when, from where, and how it ended: one row per audited action (Store::append_audit).
-- Append-only: the triggers below refuse every UPDATE (an upsert's too), DELETE and TRUNCATE,
-- whoever asks; only a schema change (dropping the triggers, as the table's owner) lifts them.
CREATE TABLE audit_log (
    id      BIGSERIAL PRIMARY KEY,
    -- Milliseconds since the Unix epoch.
    at_ms   BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT NOT NULL,
    tenant  TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL,
    source  TEXT NOT NULL
);
CREATE INDEX audit_log_at_ms ON audit_log (at_ms);
CREATE INDEX audit_log_actor_id ON audit_log (actor, id);
CREATE INDEX audit_log_tenant_id ON audit_log (tenant, id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
