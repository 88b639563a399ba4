-- Cost report (SQLite; `postgres/cost.sql` is the same in PostgreSQL's dialect): the model calls,
-- i.e. `usage` events with ts_ms >= $2 (i64::MIN for all time) of agents that are not imports,
-- of tenant $4 only (NULL: every tenant), grouped by $1:
--   'agent'  the root agent's id: a sub-agent's calls roll up its agents.parent_id chain;
--   'model'  the event's `model`, '-' without one;
--   'day'    the UTC date of ts_ms, YYYY-MM-DD;
--   'tenant' the agent's tenant (a sub-agent inherits its root's).
-- $3 a bucket length in milliseconds (NULL: none) splits each group further by time bucket, the
-- bucket of a call starting at floor(ts_ms / $3) * $3.
-- One row per group (and bucket): group_key, bucket_start (NULL without buckets), calls,
-- input_tokens, output_tokens, total_tokens, cost_usd. Without buckets costliest first, then by
-- key (bytewise); with buckets by key (bytewise), then bucket start.
WITH RECURSIVE usage_events AS (
    SELECT events.agent_id, events.ts_ms, events.data, agents.tenant
    FROM events JOIN agents ON agents.id = events.agent_id
    WHERE events.kind = 'usage' AND events.ts_ms >= $2
      -- Imported traces (`agentry trace import`) spent nothing here.
      AND agents.imported_from IS NULL
      AND ($4 IS NULL OR agents.tenant = $4)
),
-- Each agent with calls, then each of its ancestors in turn; only walked when grouping by
-- root agent. Parents exist before their children, so the walk ends.
ancestry (agent_id, id, parent_id) AS (
    SELECT agents.id, agents.id, agents.parent_id FROM agents
    WHERE $1 = 'agent' AND agents.id IN (SELECT agent_id FROM usage_events)
    UNION ALL
    SELECT ancestry.agent_id, parent.id, parent.parent_id
    FROM ancestry JOIN agents AS parent ON parent.id = ancestry.parent_id
),
-- The top of each tree: no parent (or a parent that is missing).
roots AS (
    SELECT agent_id, id AS root_id FROM ancestry
    WHERE parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM agents WHERE agents.id = ancestry.parent_id)
)
SELECT
    CAST(CASE $1
        WHEN 'agent' THEN COALESCE(roots.root_id, usage_events.agent_id)
        WHEN 'model' THEN COALESCE(json_extract(usage_events.data, '$.model'), '-')
        WHEN 'day' THEN strftime('%Y-%m-%d', usage_events.ts_ms / 1000, 'unixepoch')
        ELSE usage_events.tenant
    END AS TEXT) AS group_key,
    -- Floored, also before the epoch: the remainder is made non-negative.
    usage_events.ts_ms - ((usage_events.ts_ms % $3) + $3) % $3 AS bucket_start,
    COUNT(*) AS calls,
    CAST(COALESCE(SUM(json_extract(usage_events.data, '$.prompt_tokens')), 0) AS INTEGER) AS input_tokens,
    CAST(COALESCE(SUM(json_extract(usage_events.data, '$.completion_tokens')), 0) AS INTEGER) AS output_tokens,
    CAST(COALESCE(SUM(COALESCE(
        json_extract(usage_events.data, '$.total_tokens'),
        json_extract(usage_events.data, '$.prompt_tokens') + json_extract(usage_events.data, '$.completion_tokens')
    )), 0) AS INTEGER) AS total_tokens,
    CAST(COALESCE(SUM(json_extract(usage_events.data, '$.cost_usd')), 0) AS REAL) AS cost_usd
FROM usage_events LEFT JOIN roots ON roots.agent_id = usage_events.agent_id
GROUP BY 1, 2
ORDER BY CASE WHEN $3 IS NULL THEN cost_usd ELSE 0 END DESC, group_key, bucket_start
