-- Agents with their latest runs, newest first (PostgreSQL; `sqlite/list_agents.sql` is the same
-- in SQLite's dialect). Ids are UUIDv7, so their text order is creation order.
--   $1 limit;
--   $2 the latest run's statuses to keep, comma-separated (`queued,failed`), NULL for any;
--   $3 1 to keep dead-lettered latest runs too (failed, error `dead-lettered ...`, with a
--      `run_failed {dead_letter: true}` event), else 0; with $2 either matches;
--   $4 a search, LIKE-escaped with `\` (NULL for none): an agent or latest run id starting
--      with it, a spec model or a label value containing it, case-insensitive;
--   $5, $6 a label key and value that also match, exactly ($5 NULL: none);
--   $7 keyset cursor: only ids below it (NULL: from the newest);
--   $8 only this tenant's agents (NULL: every tenant's).
SELECT * FROM agent_summaries AS summary
-- Always a bound, so that it is an index condition also in a generic plan: without a cursor,
-- just above the newest id (a string sorts after its prefix in any collation).
WHERE summary.id < COALESCE($7::text, (SELECT MAX(newest.id) FROM agents AS newest) || 'x')
  AND ($8::text IS NULL OR summary.tenant = $8)
  AND (
      ($2::text IS NULL AND $3 = 0)
      OR summary.run_status = ANY (string_to_array($2, ','))
      OR ($3 = 1 AND summary.run_status = 'failed' AND summary.run_error LIKE 'dead-lettered%'
          AND EXISTS (
              SELECT 1 FROM events
              WHERE events.agent_id = summary.id AND events.run_id = summary.run_id
                AND events.kind = 'run_failed' AND events.data::jsonb -> 'dead_letter' = 'true'::jsonb))
  )
  AND (
      $4::text IS NULL
      OR summary.id ILIKE ($4 || '%') ESCAPE '\'
      OR summary.run_id ILIKE ($4 || '%') ESCAPE '\'
      OR (summary.spec::jsonb ->> 'model') ILIKE ('%' || $4 || '%') ESCAPE '\'
      OR EXISTS (
          SELECT 1 FROM jsonb_each_text(summary.labels::jsonb) AS label
          WHERE label.value ILIKE ('%' || $4 || '%') ESCAPE '\')
      OR ($5::text IS NOT NULL AND summary.labels::jsonb ->> $5 = $6)
  )
ORDER BY summary.id DESC
LIMIT $1
