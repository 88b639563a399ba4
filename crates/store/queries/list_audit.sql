-- A page of the audit log, newest first: $1 limit, $2 only ids below it (i64::MAX: from the
-- newest), $3 only records at or after it (i64::MIN: all time), $4 only this actor's (NULL: any),
-- $5 only this tenant's (NULL: any). Served by the primary key, or by (actor, id) or
-- (tenant, id) when filtered by them.
SELECT id, at_ms, actor, role, tenant, action, target, outcome, detail, source
FROM audit_log
WHERE id < $2
  AND at_ms >= $3
  AND ($4 IS NULL OR actor = $4)
  AND ($5 IS NULL OR tenant = $5)
ORDER BY id DESC
LIMIT $1
