-- A delegation tree (SQLite; `postgres/agent_tree.sql` is the same in PostgreSQL's dialect): agent
-- $1 and its sub-agents through agents.parent_id, depth first, the children of an agent oldest
-- first, at most $2 of them. Ids are UUIDv7 of one length, so the path of ids from the root,
-- compared bytewise, orders the walk: a parent before its subtree, siblings by creation.
-- One row per agent: the `agent_summaries` columns, depth (0 for $1), and its model calls summed
-- as `cost.sql` counts them: `usage` events of agents that are not imports, tokens
-- `total_tokens` (else prompt + completion), `cost_usd`. No row: no agent $1.
WITH RECURSIVE tree (id, depth, path) AS (
    SELECT agents.id, 0, agents.id FROM agents WHERE agents.id = $1
    UNION ALL
    SELECT child.id, tree.depth + 1, tree.path || '/' || child.id
    FROM tree JOIN agents AS child ON child.parent_id = tree.id
    -- Parents exist before their children, so there is no cycle; bounded all the same.
    WHERE tree.depth < $2
),
entries AS (
    SELECT id, depth, path FROM tree ORDER BY path COLLATE BINARY LIMIT $2
),
usage_sums AS (
    SELECT
        events.agent_id,
        COUNT(*) AS calls,
        CAST(COALESCE(SUM(COALESCE(
            json_extract(events.data, '$.total_tokens'),
            json_extract(events.data, '$.prompt_tokens') + json_extract(events.data, '$.completion_tokens')
        )), 0) AS INTEGER) AS total_tokens,
        CAST(COALESCE(SUM(json_extract(events.data, '$.cost_usd')), 0) AS REAL) AS cost_usd
    FROM events
    WHERE events.kind = 'usage'
      AND events.agent_id IN (
          -- Imported traces (`agentry trace import`) spent nothing here.
          SELECT entries.id FROM entries JOIN agents ON agents.id = entries.id WHERE agents.imported_from IS NULL)
    GROUP BY events.agent_id
)
SELECT
    summary.*,
    CAST(entries.depth AS INTEGER) AS depth,
    CAST(COALESCE(usage_sums.calls, 0) AS INTEGER) AS calls,
    CAST(COALESCE(usage_sums.total_tokens, 0) AS INTEGER) AS total_tokens,
    CAST(COALESCE(usage_sums.cost_usd, 0) AS REAL) AS cost_usd
FROM entries
JOIN agent_summaries AS summary ON summary.id = entries.id
LEFT JOIN usage_sums ON usage_sums.agent_id = entries.id
ORDER BY entries.path COLLATE BINARY
