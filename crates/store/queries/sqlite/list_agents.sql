-- Agents with their latest runs, newest first (SQLite; `postgres/list_agents.sql` is the same
-- in PostgreSQL's dialect). Ids are UUIDv7, so their text order is creation order.
--   $1 limit;
--   $2 the latest run's statuses to keep, comma-separated (`queued,failed`), NULL for any;
--   $3 1 to keep dead-lettered latest runs too (failed, error `dead-lettered ...`, with a
--      `run_failed {dead_letter: true}` event), else 0; with $2 either matches;
--   $4 a search, LIKE-escaped with `\` (NULL for none): an agent or latest run id starting
--      with it, a spec model or a label value containing it, case-insensitive (SQLite's LIKE:
--      ASCII letters only);
--   $5, $6 a label key and value that also match, exactly ($5 NULL: none);
--   $7 keyset cursor: only ids below it (NULL: from the newest);
--   $8 only this tenant's agents (NULL: every tenant's).
SELECT * FROM agent_summaries AS summary
-- Always a bound, so that it is an index condition also in a generic plan: without a cursor,
-- just above the newest id (a string sorts after its prefix in any collation).
WHERE summary.id < COALESCE($7, (SELECT MAX(newest.id) FROM agents AS newest) || 'x')
  AND ($8 IS NULL OR summary.tenant = $8)
  AND (
      ($2 IS NULL AND $3 = 0)
      OR instr(',' || $2 || ',', ',' || summary.run_status || ',') > 0
      OR ($3 = 1 AND summary.run_status = 'failed' AND summary.run_error LIKE 'dead-lettered%'
          AND EXISTS (
              SELECT 1 FROM events
              WHERE events.agent_id = summary.id AND events.run_id = summary.run_id
                AND events.kind = 'run_failed' AND json_extract(events.data, '$.dead_letter') = 1))
  )
  AND (
      $4 IS NULL
      OR summary.id LIKE ($4 || '%') ESCAPE '\'
      OR summary.run_id LIKE ($4 || '%') ESCAPE '\'
      OR json_extract(summary.spec, '$.model') LIKE ('%' || $4 || '%') ESCAPE '\'
      OR EXISTS (
          SELECT 1 FROM json_each(summary.labels) AS label
          WHERE label.value LIKE ('%' || $4 || '%') ESCAPE '\')
      OR EXISTS (
          SELECT 1 FROM json_each(summary.labels) AS label
          WHERE $5 IS NOT NULL AND label.key = $5 AND label.value = $6)
  )
ORDER BY summary.id DESC
LIMIT $1
