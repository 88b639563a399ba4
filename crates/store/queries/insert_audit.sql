-- Audit records (`sql/audit.rs`), appended in order; the log assigns their ids. The caller
-- appends one row per record, `($1, $2, $3, $4, $5, $6, $7, $8, $9)` numbered on: at_ms, actor,
-- role, tenant, action, target, outcome, detail, source.
INSERT INTO audit_log (at_ms, actor, role, tenant, action, target, outcome, detail, source) VALUES
