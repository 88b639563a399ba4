-- A commit's budget operation in one statement (PostgreSQL), for the common case: the settlement
-- of step $2 (0: none; counted only past `runs.settled_step`) with $3 tokens and $4 USD, and,
-- when $5, a reservation of $6 tokens and $7 USD that fits — both applied to the budget row
-- together, under its lock, with the run's stale reservation released (also when $8, the run
-- ended). $1 run id.
-- Returns the run's budget id (NULL: no budget) and whether the operation was applied; when a
-- reservation does not fit nothing is written and the caller takes the shared path
-- (`sql/budget.rs`), which settles and pauses the run.
WITH run AS (
    SELECT runs.id, agents.budget_id, runs.reserved_tokens AS held_tokens, runs.reserved_cost_usd AS held_cost,
        ($2::bigint > runs.settled_step) AS settles
    FROM runs JOIN agents ON agents.id = runs.agent_id
    WHERE runs.id = $1
), spend AS (
    SELECT run.*,
        CASE WHEN settles THEN $3::bigint ELSE 0 END AS used_tokens,
        CASE WHEN settles THEN $4::float8 ELSE 0 END AS used_cost,
        CASE WHEN settles OR $5::bool OR $8::bool THEN held_tokens ELSE 0 END AS released_tokens,
        CASE WHEN settles OR $5::bool OR $8::bool THEN held_cost ELSE 0 END AS released_cost,
        CASE WHEN $5::bool THEN $6::bigint ELSE 0 END AS new_tokens,
        CASE WHEN $5::bool THEN $7::float8 ELSE 0 END AS new_cost
    FROM run
), budget AS (
    UPDATE budgets SET
        used_tokens = budgets.used_tokens + spend.used_tokens,
        used_cost_usd = budgets.used_cost_usd + spend.used_cost,
        reserved_tokens = budgets.reserved_tokens - spend.released_tokens + spend.new_tokens,
        reserved_cost_usd = budgets.reserved_cost_usd - spend.released_cost + spend.new_cost
    FROM spend
    WHERE budgets.id = spend.budget_id
      AND (NOT $5::bool OR budgets.max_tokens IS NULL
           OR budgets.used_tokens + spend.used_tokens + budgets.reserved_tokens - spend.released_tokens
              + spend.new_tokens <= budgets.max_tokens)
      AND (NOT $5::bool OR budgets.max_cost_usd IS NULL
           OR budgets.used_cost_usd + spend.used_cost + budgets.reserved_cost_usd - spend.released_cost
              + spend.new_cost <= budgets.max_cost_usd + 0.000000001)
    RETURNING budgets.id
), updated AS (
    UPDATE runs SET
        used_tokens = runs.used_tokens + spend.used_tokens,
        used_cost_usd = runs.used_cost_usd + spend.used_cost,
        reserved_tokens = runs.reserved_tokens - spend.released_tokens + spend.new_tokens,
        reserved_cost_usd = runs.reserved_cost_usd - spend.released_cost + spend.new_cost,
        settled_step = CASE WHEN spend.settles THEN $2::bigint ELSE runs.settled_step END
    FROM spend
    WHERE runs.id = spend.id AND EXISTS (SELECT 1 FROM budget)
    RETURNING runs.id
)
SELECT (SELECT budget_id FROM run) AS budget_id, EXISTS (SELECT 1 FROM budget) AS applied
