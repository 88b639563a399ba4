-- A delegation tree (PostgreSQL; `sqlite/agent_tree.sql` is the same in SQLite's dialect): agent
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
    WHERE tree.depth < $2::bigint
),
entries AS (
    SELECT id, depth, path FROM tree ORDER BY path COLLATE "C" LIMIT $2::bigint
),
usage_sums AS (
    SELECT
        events.agent_id,
        COUNT(*) AS calls,
        COALESCE(SUM(COALESCE(
            (events.data::jsonb ->> 'total_tokens')::numeric,
            (events.data::jsonb ->> 'prompt_tokens')::numeric + (events.data::jsonb ->> 'completion_tokens')::numeric
        )), 0)::bigint AS total_tokens,
        COALESCE(SUM((events.data::jsonb ->> 'cost_usd')::float8), 0)::float8 AS cost_usd
    FROM events
    WHERE events.kind = 'usage'
      AND events.agent_id IN (
          -- Imported traces (`agentry trace import`) spent nothing here.
          SELECT entries.id FROM entries JOIN agents ON agents.id = entries.id WHERE agents.imported_from IS NULL)
    GROUP BY events.agent_id
)
SELECT
    summary.*,
    entries.depth::bigint AS depth,
    COALESCE(usage_sums.calls, 0)::bigint AS calls,
    COALESCE(usage_sums.total_tokens, 0)::bigint AS total_tokens,
    COALESCE(usage_sums.cost_usd, 0)::float8 AS cost_usd
FROM entries
JOIN agent_summaries AS summary ON summary.id = entries.id
LEFT JOIN usage_sums ON usage_sums.agent_id = entries.id
ORDER BY entries.path COLLATE "C"
