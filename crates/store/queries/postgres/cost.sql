-- Cost report (PostgreSQL; `sqlite/cost.sql` is the same in SQLite's dialect): the model calls,
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
    SELECT events.agent_id, events.ts_ms, events.data::jsonb AS data, agents.tenant
    FROM events JOIN agents ON agents.id = events.agent_id
    WHERE events.kind = 'usage' AND events.ts_ms >= $2
      -- Imported traces (`agentry trace import`) spent nothing here.
      AND agents.imported_from IS NULL
      AND ($4::text IS NULL OR agents.tenant = $4)
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
    (CASE $1
        WHEN 'agent' THEN COALESCE(roots.root_id, usage_events.agent_id)
        WHEN 'model' THEN COALESCE(usage_events.data ->> 'model', '-')
        WHEN 'day' THEN to_char(to_timestamp(usage_events.ts_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')
        ELSE usage_events.tenant
    END) COLLATE "C" AS group_key,
    -- Floored, also before the epoch: the remainder is made non-negative.
    usage_events.ts_ms - ((usage_events.ts_ms % $3::bigint) + $3::bigint) % $3::bigint AS bucket_start,
    COUNT(*) AS calls,
    COALESCE(SUM((usage_events.data ->> 'prompt_tokens')::numeric), 0)::bigint AS input_tokens,
    COALESCE(SUM((usage_events.data ->> 'completion_tokens')::numeric), 0)::bigint AS output_tokens,
    COALESCE(SUM(COALESCE(
        (usage_events.data ->> 'total_tokens')::numeric,
        (usage_events.data ->> 'prompt_tokens')::numeric + (usage_events.data ->> 'completion_tokens')::numeric
    )), 0)::bigint AS total_tokens,
    COALESCE(SUM((usage_events.data ->> 'cost_usd')::float8), 0)::float8 AS cost_usd
FROM usage_events LEFT JOIN roots ON roots.agent_id = usage_events.agent_id
GROUP BY 1, 2
-- Output names cannot be used in expressions here: the cost is summed again (NULL, ignored, with
-- buckets).
ORDER BY CASE WHEN $3::bigint IS NULL THEN COALESCE(SUM((usage_events.data ->> 'cost_usd')::float8), 0) END DESC,
    1, 2
