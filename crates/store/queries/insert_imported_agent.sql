-- A read-only agent loaded from a trace (`sql/import.rs`): $1 id, $2 spec, $3 labels, $4 now,
-- $5 last seq (its events are written with seqs 1..=$5 in the same transaction), $6 the source
-- it was imported from, $7 tenant (the importer's).
INSERT INTO agents (id, spec, labels, parent_id, idempotency_key, created_ms, last_seq, message_count, budget_id,
    imported_from, tenant)
VALUES ($1, $2, $3, NULL, NULL, $4, $5, 0, NULL, $6, $7)
RETURNING *
